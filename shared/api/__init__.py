"""HTTP handlers, one module per resource. function_app.py routes each function to one of them."""
