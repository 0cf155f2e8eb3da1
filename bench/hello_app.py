"""A hello-world Flask app: the HTTP ceiling the bundling check is compared with (same gunicorn settings)."""

from flask import Flask


def create_app() -> Flask:
    """Return an app that answers POST / with a small JSON body."""
    app = Flask(__name__)

    @app.route("/", methods=["GET", "POST"])
    def hello():
        """Answer with a constant JSON document."""
        return {"resourceType": "Parameters", "parameter": [{"name": "result", "valueBoolean": True}]}

    return app
