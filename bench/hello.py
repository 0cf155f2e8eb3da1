"""The hello-world ceiling: a minimal Flask app served with the same gunicorn settings."""

from flask import Flask


def create_app() -> Flask:
    """Return a Flask app with one trivial JSON endpoint."""
    app = Flask(__name__)

    @app.route("/hello", methods=["GET", "POST"])
    def hello():
        return app.response_class(b'{"hello":"world"}', mimetype="application/json")

    return app
