"""WSGI entry for test/real: Patchwork's own wsgi.py forces its production settings."""
from django.core.wsgi import get_wsgi_application

application = get_wsgi_application()
