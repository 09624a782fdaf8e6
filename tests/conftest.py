pytest_plugins = [
    "tests.fixtures.s3",
    "tests.fixtures.postgres",
    "tests.fixtures.pg_proxy",
    "tests.fixtures.server",
    "tests.fixtures.clamd",
    "tests.fixtures.browser",
]
