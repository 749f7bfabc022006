"""Set up and feed the real Patchwork of test/real, one JSON command a line.

Runs as one long-lived process (Django starts once, which takes a second)
beside gunicorn, on the same sqlite file. Each stdin line is
{"cmd": NAME, ...args}; each answer is one stdout line {"ok": RESULT} or
{"error": TEXT}. Mail goes in through Patchwork's own parser, as
`manage.py parsearchive --list-id` would put it.
"""
import datetime
import email
import json
import os
import sys
import traceback

import django

os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'pwnm_real_settings')
django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import transaction  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402

from patchwork.models import Cover, Event, Patch, Person, Project, State  # noqa: E402
from patchwork.parser import parse_mail  # noqa: E402


def user(name, email_address):
    u, _ = User.objects.get_or_create(username=name, defaults={'email': email_address})
    token, _ = Token.objects.get_or_create(user=u)
    return {'id': u.id, 'username': name, 'email': email_address, 'token': token.key}


def cmd_migrate(args):
    call_command('migrate', verbosity=0, interactive=False)
    call_command('loaddata', 'default_tags', 'default_states', verbosity=0)
    return {'states': list(State.objects.values_list('slug', flat=True))}


def cmd_users(args):
    """The maintainer, the submitter (linked to the Person of its mails'
    From:, as Patchwork links a submitter who registers) and a plain user."""
    maint = user('maint', 'maint@example.org')
    submitter = user(args['submitter']['username'], args['submitter']['email'])
    person, _ = Person.objects.get_or_create(email=args['submitter']['email'], defaults={'name': args['submitter']['name']})
    person.user = User.objects.get(id=submitter['id'])
    person.save()
    plain = user('plain', 'plain@example.org')
    return {'maint': maint, 'submitter': submitter, 'plain': plain}


def cmd_project(args):
    project = Project.objects.create(linkname=args['linkname'], name=args['linkname'],
                                     listid=args['listid'], listemail=args['listemail'])
    # Patchwork main (API 1.4) shows series dependencies only where enabled.
    if hasattr(project, 'show_dependencies'):
        project.show_dependencies = args.get('show_dependencies', True)
        project.save()
    for name in args.get('maintainers', []):
        User.objects.get(username=name).profile.maintainer_projects.add(project)
    return {'id': project.id}


def cmd_import(args):
    """Parse each file (in the order given) with Patchwork's parser."""
    made = []
    for path in args['files']:
        with open(path, 'rb') as f:
            mail = email.message_from_binary_file(f)
        obj = parse_mail(mail, args['listid'])
        kind = 'patch' if isinstance(obj, Patch) else 'cover' if isinstance(obj, Cover) else 'comment' if obj else None
        made.append({'file': path, 'kind': kind, 'id': obj.id if kind in ('patch', 'cover') else None})
    return made


def cmd_delegate(args):
    """Delegate a patch to any user: the API takes maintainers only, but
    a delegate who is no maintainer (any more) happens, and may edit."""
    patch = Patch.objects.get(id=args['patch'])
    patch.delegate = User.objects.get(username=args['username'])
    patch.save()
    return {}


def cmd_redate_events(args):
    """Date events as if made at another time: a project's (`project`) or
    some (`ids`), to `date` (naive UTC, as Patchwork stores them) or, without
    one, to now, a microsecond apart in id order, as a fast import leaves them."""
    events = Event.objects.filter(project_id=args['project']) if 'project' in args else Event.objects.filter(id__in=args['ids'])
    base = datetime.datetime.fromisoformat(args['date']) if args.get('date') else datetime.datetime.utcnow()
    ids = list(events.order_by('id').values_list('id', flat=True))
    with transaction.atomic():
        for i, event_id in enumerate(ids):
            Event.objects.filter(id=event_id).update(date=base + datetime.timedelta(microseconds=i))
    return {'ids': ids}


def cmd_bulk_patches(args):
    """`count` patches without mail in `project`, made at once (bulk_create:
    no signals, so no events), a second apart from the project's oldest
    patch on; the first `archived` of them archived."""
    project = Project.objects.get(id=args['project'])
    person, _ = Person.objects.get_or_create(email='bulk@example.org', defaults={'name': 'Bulk Sender'})
    state = State.objects.get(slug='new')
    base = Patch.objects.filter(project=project).order_by('date').first().date
    patches = [Patch(project=project, msgid='<bulk.%d.%d@example.org>' % (project.id, i), name='bulk %d' % i,
                     date=base + datetime.timedelta(seconds=i + 1), submitter=person, state=state, content='',
                     headers='', archived=i < args['archived']) for i in range(args['count'])]
    with transaction.atomic():
        Patch.objects.bulk_create(patches, batch_size=500)
    return {'count': Patch.objects.filter(project=project).count()}


def cmd_delete_patch(args):
    """Delete a patch as Django's admin does (the REST API cannot)."""
    Patch.objects.get(id=args['patch']).delete()
    return {}


def main():
    commands = {'migrate': cmd_migrate, 'users': cmd_users, 'project': cmd_project, 'import': cmd_import,
                'delegate': cmd_delegate, 'redate_events': cmd_redate_events,
                'bulk_patches': cmd_bulk_patches, 'delete_patch': cmd_delete_patch}
    for line in sys.stdin:
        request = json.loads(line)
        try:
            answer = {'ok': commands[request['cmd']](request)}
        except Exception as e:  # reported to the test, which fails with it
            answer = {'error': '%s: %s\n%s' % (type(e).__name__, e, traceback.format_exc())}
        sys.stdout.write(json.dumps(answer) + '\n')
        sys.stdout.flush()


if __name__ == '__main__':
    main()
