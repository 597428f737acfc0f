from platformctl.cli import app

app()
