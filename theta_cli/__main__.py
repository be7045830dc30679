from theta_cli.cli import main

main(prog_name="theta")
