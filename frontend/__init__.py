"""Triple's Streamlit frontend. It talks to the backend only over HTTP (see client.py)."""
