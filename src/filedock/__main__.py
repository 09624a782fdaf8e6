from filedock.cli import main

main()
