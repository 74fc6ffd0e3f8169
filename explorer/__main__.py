from explorer.tools.cli import main

main()
