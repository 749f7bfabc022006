"""Django settings for the real Patchwork 3.1.3 that test/real runs.

Production-like (DEBUG off, gunicorn in front) but local: sqlite in the
run's temp dir (PWNM_REAL_DB), loopback hosts only, UTC so that the dates
Patchwork stores are the mails' UTC dates.
"""
import os

from patchwork.settings.base import *  # noqa: F401,F403

DEBUG = False
SECRET_KEY = 'pwnm-sync-real-suite-not-secret'
ALLOWED_HOSTS = ['127.0.0.1', 'localhost']
TIME_ZONE = 'UTC'
DATABASES = {
    'default': {
        'ENGINE': 'django.db.backends.sqlite3',
        'NAME': os.environ['PWNM_REAL_DB'],
        # gunicorn's workers and the admin process share the file.
        'OPTIONS': {'timeout': 30},
    },
}
ENABLE_REST_API = True
ENABLE_XMLRPC = False
# No mail leaves the test machine.
EMAIL_BACKEND = 'django.core.mail.backends.dummy.EmailBackend'
