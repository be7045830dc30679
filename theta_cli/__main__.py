from theta_cli.cli import app

app(prog_name="theta")
