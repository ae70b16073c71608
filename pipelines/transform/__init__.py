"""Transform: the SQL model runner (sql/) and the Python models it runs through a small context object."""
