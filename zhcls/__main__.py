from zhcls.cli import main

main()
