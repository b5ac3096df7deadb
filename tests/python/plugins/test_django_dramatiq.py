"""django-dramatiq: a minimal Django project whose workers run under
``manage.py rundramatiq`` (which execs the ``dramatiq`` command) on Redis;
the AdminMiddleware records each Task, and the Task admin page of a
failed one shows the actor's traceback (taken from sys.exc_info() in
after_process_message)."""

from plugin_scenarios import run_scenario

FILES = {
    "manage.py": """
        import os, sys
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")
        from django.core.management import execute_from_command_line
        execute_from_command_line(sys.argv)
    """,
    "proj/__init__.py": "",
    "proj/settings.py": """
        import os
        from pathlib import Path
        BASE_DIR = Path(__file__).resolve().parent.parent
        SECRET_KEY = "scenario"
        DEBUG = False
        ALLOWED_HOSTS = ["testserver"]
        USE_TZ = True
        DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
        INSTALLED_APPS = [
            "django.contrib.admin", "django.contrib.auth", "django.contrib.contenttypes",
            "django.contrib.sessions", "django.contrib.messages", "django_dramatiq", "shop",
        ]
        MIDDLEWARE = [
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
        ]
        ROOT_URLCONF = "proj.urls"
        TEMPLATES = [{
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "APP_DIRS": True,
            "OPTIONS": {"context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]},
        }]
        # The worker process and the scenario write the same file: IMMEDIATE
        # transactions wait for the lock (timeout) instead of failing at once
        # when a read transaction cannot upgrade to a write.
        DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3",
                                 "OPTIONS": {"timeout": 30, "transaction_mode": "IMMEDIATE"}}}
        DRAMATIQ_BROKER = {
            "BROKER": "dramatiq.brokers.redis.RedisBroker",
            "OPTIONS": {"url": os.environ["REDIS_URL"]},
            "MIDDLEWARE": [
                "dramatiq.middleware.AgeLimit",
                "dramatiq.middleware.TimeLimit",
                "dramatiq.middleware.Callbacks",
                "dramatiq.middleware.Retries",
                "django_dramatiq.middleware.AdminMiddleware",
                "django_dramatiq.middleware.DbConnectionsMiddleware",
            ],
        }
    """,
    "proj/urls.py": """
        from django.contrib import admin
        from django.urls import path
        urlpatterns = [path("admin/", admin.site.urls)]
    """,
    "shop/__init__.py": "",
    "shop/tasks.py": """
        import dramatiq

        @dramatiq.actor(max_retries=0)
        def ship(order):
            return None

        @dramatiq.actor(max_retries=0)
        def charge(order):
            raise ValueError("card declined for order %d" % order)
    """,
}

SCENARIO = """
import os, signal, subprocess, sys, time
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)

from django.contrib.auth.models import User
from django.test import Client
from django_dramatiq.models import Task
from shop.tasks import charge, ship

workers = subprocess.Popen([sys.executable, "manage.py", "rundramatiq", "--processes", "1", "--threads", "2"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
try:
    shipped = ship.send(1)
    charged = charge.send(2)

    def status(message):
        task = Task.tasks.filter(id=message.message_id).first()
        return task.status if task else None

    deadline = time.monotonic() + 90
    while (status(shipped), status(charged)) != (Task.STATUS_DONE, Task.STATUS_FAILED):
        assert workers.poll() is None, "rundramatiq exited: %s" % workers.communicate()[0]
        if time.monotonic() > deadline:
            workers.send_signal(signal.SIGTERM)
            raise AssertionError((status(shipped), status(charged), workers.communicate(timeout=60)[0]))
        time.sleep(0.25)

    admin = User.objects.create_superuser("admin", "admin@example.com", "secret")
    client = Client()
    client.force_login(admin)
    listing = client.get("/admin/django_dramatiq/task/")
    assert listing.status_code == 200, listing.status_code
    page = listing.content.decode()
    assert "ship" in page and "charge" in page, page
    detail = client.get("/admin/django_dramatiq/task/%s/change/" % charged.message_id)
    assert detail.status_code == 200, detail.status_code
    page = detail.content.decode()
    assert "ValueError: card declined for order 2" in page, page
    # The actor's frame, from the traceback sys.exc_info() gave the middleware.
    assert "raise ValueError(" in page and "tasks.py" in page, page
finally:
    workers.send_signal(signal.SIGTERM)
    output = workers.communicate(timeout=60)[0]
print(output)
assert "rundramatiq" in output or "dramatiq" in output
assert workers.returncode == 0, (workers.returncode, output)
print("SCENARIO OK")
"""


def test_rundramatiq_and_the_task_admin_with_tracebacks(tmp_path, redis_server):
    run_scenario(tmp_path, SCENARIO, files=FILES, env={"REDIS_URL": redis_server.url})
