from hospes.cli.main import main

main()
