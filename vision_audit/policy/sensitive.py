"""
Sensitive content: the health-related tag list and the flags a result can raise.

Microsoft's guidance for Image Analysis asks to think carefully before recording
health-related data. Image Analysis has no "health" category of its own; it emits
ordinary tags and object names (``wheelchair``, ``hospital``, ``medicine``...) and
captions that use the same words. :data:`BUILTIN_HEALTH_TAGS` lists the ones that,
seen in a result, suggest the image reveals something about a person's health. A
match raises the ``health`` flag; content (captions, read text) of such a result is
never captured, and a purpose can route it to human review.

The list errs towards flagging: a flag costs a review, a miss leaks health data.
Words that are mostly about something else are left out (``mask``, ``tablet``,
``needle``, ``cast``, ``thermometer``, ``brace``); add them for a use where they are
health-related with ``[sensitive] extra_health_tags``, remove false alarms with
``not_health_tags``, or replace the whole list with ``health_tags = [...]``.

The flags:

``people``
    A person detected (``people`` feature) at or above ``people_threshold``.
``text``
    Text read (``read`` feature): at least one line.
``health``
    A tag, object tag, caption or dense caption matches a health-related tag.
``low_confidence``
    A kept tag or object tag, or the caption, has a confidence under the purpose's
    ``review.low_confidence_below``.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING, Final

from vision_audit.policy.tags import normalize_term

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "BUILTIN_HEALTH_TAGS",
    "FLAGS",
    "FLAG_HEALTH",
    "FLAG_LOW_CONFIDENCE",
    "FLAG_PEOPLE",
    "FLAG_TEXT",
    "HEALTH_TAG_GROUPS",
]

FLAG_PEOPLE: Final = "people"
FLAG_TEXT: Final = "text"
FLAG_HEALTH: Final = "health"
FLAG_LOW_CONFIDENCE: Final = "low_confidence"
FLAGS: Final = frozenset({FLAG_PEOPLE, FLAG_TEXT, FLAG_HEALTH, FLAG_LOW_CONFIDENCE})
"""Every flag a result can raise."""

HEALTH_TAG_GROUPS: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "mobility and hearing aids": (
            "wheelchair",
            "motorized wheelchair",
            "electric wheelchair",
            "mobility scooter",
            "crutch",
            "crutches",
            "walker",
            "walking frame",
            "zimmer frame",
            "rollator",
            "cane",
            "walking stick",
            "white cane",
            "prosthesis",
            "prosthetic",
            "prosthetic leg",
            "prosthetic arm",
            "artificial limb",
            "orthosis",
            "knee brace",
            "neck brace",
            "arm sling",
            "hearing aid",
            "cochlear implant",
        ),
        "medical equipment": (
            "medical equipment",
            "medical device",
            "medical instrument",
            "stethoscope",
            "syringe",
            "hypodermic needle",
            "iv bag",
            "intravenous therapy",
            "oxygen mask",
            "oxygen tank",
            "oxygen concentrator",
            "ventilator",
            "inhaler",
            "nebulizer",
            "blood pressure monitor",
            "sphygmomanometer",
            "glucose meter",
            "glucometer",
            "insulin pen",
            "insulin pump",
            "pulse oximeter",
            "defibrillator",
            "hospital bed",
            "stretcher",
            "gurney",
            "catheter",
            "dialysis machine",
            "surgical instrument",
            "scalpel",
            "surgical mask",
            "medical mask",
        ),
        "medicine": (
            "medicine",
            "medication",
            "pill",
            "pills",
            "capsule",
            "pill bottle",
            "prescription drug",
            "prescription",
            "pharmaceutical drug",
            "pharmacy",
            "drugstore",
        ),
        "injuries and conditions": (
            "wound",
            "injury",
            "bandage",
            "adhesive bandage",
            "gauze",
            "plaster cast",
            "orthopedic cast",
            "stitches",
            "suture",
            "scar",
            "bruise",
            "blood",
            "bleeding",
            "rash",
            "disability",
            "amputee",
            "amputation",
            "pregnancy",
            "pregnant",
            "illness",
            "disease",
            "patient",
        ),
        "care settings and staff": (
            "hospital",
            "clinic",
            "medical clinic",
            "emergency room",
            "operating room",
            "operating theater",
            "intensive care unit",
            "doctor's office",
            "medical office",
            "nursing home",
            "ambulance",
            "physician",
            "doctor",
            "nurse",
            "surgeon",
            "paramedic",
            "health care",
            "healthcare",
            "medical",
            "health",
        ),
        "procedures and imaging": (
            "surgery",
            "medical procedure",
            "injection",
            "vaccination",
            "vaccine",
            "blood test",
            "blood donation",
            "dialysis",
            "physical therapy",
            "physiotherapy",
            "rehabilitation",
            "dentistry",
            "dentist",
            "dental braces",
            "x-ray",
            "radiography",
            "radiology",
            "mri",
            "mri scan",
            "ct scan",
            "ultrasound",
            "medical imaging",
            "electrocardiogram",
            "ecg",
        ),
    }
)
"""The built-in health-related tags, grouped for the reader; groups do not matter."""

BUILTIN_HEALTH_TAGS: Final = frozenset(
    normalize_term(tag) for group in HEALTH_TAG_GROUPS.values() for tag in group
)
"""
Tags, object names and caption words that suggest health-related content.

Used when a policy's ``[sensitive] health_tags`` is ``"builtin"`` (the default).

.. versionadded:: 0.1.0
"""
