"""Scene catalogue and word lists from which the emulator composes its results."""

from __future__ import annotations

from typing import NamedTuple

RelativeBox = tuple[float, float, float, float]
"""A box as fractions of the image: left, top, width, height, each in 0..1."""


class Thing(NamedTuple):
    """
    An object or a person in a scene.

    Things named ``person`` are reported both as people and as objects, as the
    service does.
    """

    name: str
    confidence: float
    box: RelativeBox
    phrase: str


class Scene(NamedTuple):
    """
    One coherent picture the emulator can claim an image shows.

    ``setting`` is ``indoor``, ``outdoor`` or ``paper``; the mean colour of the
    image nudges the choice toward a setting.
    """

    key: str
    setting: str
    caption: str
    caption_confidence: float
    tags: tuple[tuple[str, float], ...]
    things: tuple[Thing, ...]
    text: tuple[str, ...]
    text_box: RelativeBox


# fmt: off
SCENES: tuple[Scene, ...] = (
    Scene(
        "office_desk", "indoor", "a woman sitting at a desk using a laptop", 0.83,
        (("furniture", 0.985), ("person", 0.962), ("laptop", 0.941),
         ("computer", 0.925), ("indoor", 0.912), ("desk", 0.897),
         ("clothing", 0.871), ("woman", 0.823), ("sitting", 0.802),
         ("office", 0.764), ("table", 0.713), ("wall", 0.688), ("using", 0.552)),
        (Thing("person", 0.88, (0.36, 0.18, 0.32, 0.78), "a woman sitting at a desk"),
         Thing("laptop", 0.79, (0.30, 0.55, 0.26, 0.20),
               "a close-up of a laptop on a desk"),
         Thing("chair", 0.64, (0.62, 0.35, 0.22, 0.60),
               "a close-up of a black office chair"),
         Thing("desk", 0.61, (0.10, 0.70, 0.80, 0.28), "a wooden desk"),
         Thing("houseplant", 0.58, (0.82, 0.10, 0.15, 0.35),
               "a potted plant on a shelf")),
        ("Q3 review", "Fri 10:00"), (0.04, 0.06, 0.18, 0.12),
    ),
    Scene(
        "retail_shelf", "indoor", "a store shelf stocked with boxes of cereal", 0.79,
        (("shelf", 0.971), ("indoor", 0.953), ("retail", 0.912),
         ("supermarket", 0.893), ("product", 0.871), ("box", 0.842),
         ("grocery store", 0.812), ("food", 0.781), ("snack", 0.722),
         ("packaging", 0.693), ("text", 0.664)),
        (Thing("shelf", 0.72, (0.02, 0.05, 0.96, 0.90),
               "a store shelf full of products"),
         Thing("box", 0.67, (0.08, 0.12, 0.18, 0.30), "a close-up of a cereal box"),
         Thing("box", 0.64, (0.30, 0.12, 0.18, 0.30), "a box of cereal on a shelf"),
         Thing("box", 0.61, (0.54, 0.45, 0.18, 0.30), "a box of crackers on a shelf")),
        ("WHOLE GRAIN OATS", "2 FOR $5.00", "PRICE PER KG 4.18"),
        (0.05, 0.80, 0.60, 0.15),
    ),
    Scene(
        "city_street", "outdoor", "a man walking down a city street with cars", 0.81,
        (("outdoor", 0.991), ("building", 0.972), ("street", 0.961), ("car", 0.952),
         ("vehicle", 0.934), ("land vehicle", 0.921), ("road", 0.903),
         ("city", 0.882), ("person", 0.861), ("sky", 0.833), ("walking", 0.744),
         ("man", 0.702), ("sidewalk", 0.651)),
        (Thing("person", 0.86, (0.12, 0.38, 0.10, 0.50),
               "a man walking on the sidewalk"),
         Thing("person", 0.78, (0.70, 0.42, 0.08, 0.42), "a woman carrying a bag"),
         Thing("car", 0.84, (0.30, 0.55, 0.30, 0.25),
               "a silver car driving on a street"),
         Thing("car", 0.72, (0.62, 0.60, 0.20, 0.15), "a red car parked by the curb"),
         Thing("traffic light", 0.60, (0.88, 0.10, 0.05, 0.20),
               "a traffic light on a pole")),
        ("MAIN ST", "ONE WAY"), (0.40, 0.08, 0.20, 0.10),
    ),
    Scene(
        "damaged_car", "outdoor", "a damaged car parked on the side of a road", 0.77,
        (("vehicle", 0.991), ("land vehicle", 0.982), ("car", 0.973),
         ("wheel", 0.952), ("tire", 0.934), ("outdoor", 0.913), ("auto part", 0.884),
         ("bumper", 0.842), ("automotive exterior", 0.803), ("vehicle door", 0.724),
         ("fender", 0.712), ("road", 0.661)),
        (Thing("car", 0.88, (0.06, 0.20, 0.88, 0.68),
               "a car with a dented front bumper"),
         Thing("tire", 0.69, (0.14, 0.62, 0.17, 0.25), "a close-up of a car tire"),
         Thing("tire", 0.66, (0.68, 0.62, 0.17, 0.25), "a black tire on a car"),
         Thing("bumper", 0.58, (0.05, 0.55, 0.40, 0.18),
               "a dented bumper with scratches")),
        ("KX 4821 B",), (0.38, 0.66, 0.16, 0.07),
    ),
    Scene(
        "kitchen", "indoor", "a man cooking in a kitchen", 0.80,
        (("indoor", 0.992), ("kitchen", 0.981), ("cabinetry", 0.953),
         ("home appliance", 0.931), ("person", 0.902), ("countertop", 0.884),
         ("stove", 0.851), ("kitchen appliance", 0.803), ("cooking", 0.772),
         ("man", 0.731), ("refrigerator", 0.662), ("food", 0.603)),
        (Thing("person", 0.85, (0.40, 0.15, 0.22, 0.80), "a man standing at a stove"),
         Thing("oven", 0.74, (0.35, 0.55, 0.30, 0.43), "a stainless steel oven"),
         Thing("refrigerator", 0.70, (0.75, 0.05, 0.24, 0.90),
               "a white refrigerator"),
         Thing("cabinetry", 0.63, (0.00, 0.00, 0.50, 0.30), "white kitchen cabinets")),
        ("BAKING SODA",), (0.05, 0.45, 0.12, 0.06),
    ),
    Scene(
        "landscape", "outdoor", "a lake surrounded by mountains under a blue sky", 0.86,
        (("outdoor", 0.995), ("sky", 0.991), ("mountain", 0.982), ("nature", 0.971),
         ("water", 0.953), ("lake", 0.942), ("cloud", 0.903), ("landscape", 0.884),
         ("tree", 0.851), ("wilderness", 0.802), ("reflection", 0.724),
         ("snow", 0.603)),
        (Thing("tree", 0.60, (0.02, 0.35, 0.15, 0.50), "a pine tree on the shore"),),
        ("LAKE TRAIL 2 KM",), (0.70, 0.80, 0.20, 0.08),
    ),
    Scene(
        "document", "paper", "a close-up of a printed invoice", 0.72,
        (("text", 0.995), ("document", 0.972), ("font", 0.934), ("paper", 0.902),
         ("receipt", 0.823), ("number", 0.764), ("screenshot", 0.602)),
        (),
        ("INVOICE", "Invoice No. 4821", "Date 2023-10-01", "Description Qty Amount",
         "Consulting services 3 360.00", "Travel 1 84.50", "Total 444.50"),
        (0.08, 0.06, 0.84, 0.60),
    ),
    Scene(
        "clinic_wheelchair", "indoor", "a man in a wheelchair in a hospital hallway",
        0.80,
        (("indoor", 0.984), ("floor", 0.962), ("wheelchair", 0.951),
         ("person", 0.933), ("hospital", 0.882), ("wheel", 0.843), ("clinic", 0.802),
         ("hallway", 0.771), ("man", 0.744), ("medical equipment", 0.703),
         ("sitting", 0.662)),
        (Thing("person", 0.87, (0.35, 0.25, 0.30, 0.60),
               "a man sitting in a wheelchair"),
         Thing("wheelchair", 0.80, (0.30, 0.45, 0.38, 0.50),
               "a close-up of a wheelchair"),
         Thing("person", 0.70, (0.75, 0.20, 0.12, 0.65),
               "a woman in scrubs walking down a hallway")),
        ("RADIOLOGY", "EXIT"), (0.40, 0.03, 0.20, 0.10),
    ),
    Scene(
        "pharmacy", "indoor", "shelves of medicine bottles in a pharmacy", 0.78,
        (("indoor", 0.973), ("shelf", 0.952), ("medicine", 0.931), ("bottle", 0.912),
         ("pharmacy", 0.893), ("retail", 0.842), ("medical", 0.803), ("pill", 0.744),
         ("plastic bottle", 0.702), ("health care", 0.681), ("text", 0.643)),
        (Thing("bottle", 0.77, (0.10, 0.20, 0.12, 0.30),
               "an orange prescription bottle"),
         Thing("bottle", 0.73, (0.30, 0.22, 0.12, 0.28), "a white bottle of pills"),
         Thing("bottle", 0.69, (0.52, 0.20, 0.12, 0.30),
               "a bottle of medicine on a shelf"),
         Thing("shelf", 0.60, (0.02, 0.10, 0.96, 0.85),
               "a shelf of medicine bottles")),
        ("PHARMACY", "Ibuprofen 200 mg", "Take 1 tablet every 6 hours"),
        (0.10, 0.55, 0.50, 0.18),
    ),
    Scene(
        "dog_park", "outdoor", "a girl playing with a dog in a park", 0.82,
        (("grass", 0.992), ("outdoor", 0.981), ("dog", 0.972), ("tree", 0.943),
         ("animal", 0.921), ("mammal", 0.912), ("pet", 0.893), ("park", 0.862),
         ("person", 0.834), ("dog breed", 0.801), ("girl", 0.712),
         ("playing", 0.663)),
        (Thing("dog", 0.89, (0.50, 0.50, 0.30, 0.35),
               "a brown dog running on the grass"),
         Thing("person", 0.84, (0.20, 0.25, 0.20, 0.70), "a girl in a red jacket"),
         Thing("tree", 0.60, (0.70, 0.00, 0.30, 0.50), "a tree in a park")),
        ("DOGS ON LEASH",), (0.05, 0.10, 0.15, 0.08),
    ),
)
# fmt: on
"""The scenes, each internally consistent: caption, tags, things and text agree."""

FALLBACK_TEXT: tuple[tuple[str, ...], ...] = (
    ("EXIT",),
    ("OPEN", "Mon-Fri 9-17"),
    ("NO PARKING",),
    ("Room 204",),
)
"""Short sign-like lines for results whose content has no text of its own."""

FALLBACK_TEXT_BOX: RelativeBox = (0.62, 0.04, 0.30, 0.10)
"""Where the fallback sign is: a small label near the top."""

SCRIPTED_TEXT_BOX: RelativeBox = (0.05, 0.05, 0.90, 0.90)
"""Where scripted text lines are laid out: most of the image, like a document."""

PERSON_WORDS: frozenset[str] = frozenset(
    {
        "person",
        "people",
        "man",
        "men",
        "woman",
        "women",
        "boy",
        "boys",
        "girl",
        "girls",
        "child",
        "children",
        "kid",
        "kids",
        "lady",
        "ladies",
        "gentleman",
        "gentlemen",
        "pedestrian",
        "pedestrians",
    }
)
"""Words that, in a scripted caption or tag, mean the image shows someone."""

GENDER_NEUTRAL: dict[str, str] = {
    "man": "person",
    "men": "people",
    "woman": "person",
    "women": "people",
    "boy": "child",
    "boys": "children",
    "girl": "child",
    "girls": "children",
    "lady": "person",
    "ladies": "people",
    "gentleman": "person",
    "gentlemen": "people",
    "guy": "person",
    "guys": "people",
    "businessman": "businessperson",
    "businesswoman": "businessperson",
    "businessmen": "businesspeople",
    "businesswomen": "businesspeople",
}
"""Gendered nouns and their neutral replacement, for ``gender-neutral-caption``."""
