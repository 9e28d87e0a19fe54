from ssisrun import main

main()
