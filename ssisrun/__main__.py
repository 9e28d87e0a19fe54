from ssisrun.cli import main

main()
