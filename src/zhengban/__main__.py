from zhengban.cli import main

main()
