"""The programme's content: lessons, FAQ, quizzes and service types, per locale.

Pure data plus the code to load, check, match and export it. No database, no network:
the bot and the service import this package; it imports neither of them.
"""

from content.cite import answer_message, lesson_message, source_line
from content.check import CheckReport, SmsRow, check_library, check_path
from content.export import export_library
from content.loader import ContentError, load_library
from content.matcher import FaqMatcher, Match
from content.models import Library
from content.sms import SmsInfo, segments

__all__ = [
    "CheckReport",
    "ContentError",
    "answer_message",
    "lesson_message",
    "source_line",
    "FaqMatcher",
    "Library",
    "Match",
    "SmsInfo",
    "SmsRow",
    "check_library",
    "check_path",
    "export_library",
    "load_library",
    "segments",
]
