from nyxops.cli import main

main()
