from atlasgate.cli.main import main

main()
