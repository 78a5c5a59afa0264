from mentor.cli.main import main

main()
