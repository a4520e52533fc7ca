from smb_tui.cli import main

raise SystemExit(main())
