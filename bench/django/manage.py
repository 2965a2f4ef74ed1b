#!/usr/bin/env python
"""manage.py for the benchmark projects: DJANGO_SETTINGS_MODULE picks bare_project or full_project."""
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "full_project.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
