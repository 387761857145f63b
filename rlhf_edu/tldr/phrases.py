"""The phrase banks the synthetic TL;DR posts and summaries are built from (``posts.py``).

Data, not logic: counterparts, problems, questions, subreddits, fillers, and the phrases that
make a rejected summary worse. The small helpers here draw from them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

# ---------------------------------------------------------------------------
# Vocabularies. Counterparts: canonical name -> (aliases, gender or None).
# The judge treats every alias of a canonical name as that name, so "bf" in a
# summary of a post about a "boyfriend" is not a hallucination.
# ---------------------------------------------------------------------------

COUNTERPARTS = {
    "roommate": (("roommate", "roomie", "roommates"), None),
    "landlord": (("landlord",), None),
    "neighbour": (("neighbour", "neighbor", "neighbours", "neighbors"), None),
    "boss": (("boss", "manager", "supervisor"), None),
    "coworker": (("coworker", "coworkers", "colleague", "co worker"), None),
    "sister": (("sister",), "F"),
    "brother": (("brother",), "M"),
    "cousin": (("cousin",), None),
    "mom": (("mom", "mother", "mum"), "F"),
    "dad": (("dad", "father"), "M"),
    "boyfriend": (("boyfriend", "bf"), "M"),
    "girlfriend": (("girlfriend", "gf"), "F"),
    "husband": (("husband",), "M"),
    "wife": (("wife",), "F"),
    "friend": (("friend", "best friend", "friends", "bff"), None),
    "professor": (("professor", "prof"), None),
    "classmate": (("classmate", "classmates"), None),
    "teammate": (("teammate", "teammates"), None),
}
PARTNERS = ("boyfriend", "girlfriend", "husband", "wife")
PARENTS = ("mom", "dad")
# Ages for the optional "(26M)" tag; parents and professors are older.
AGE_RANGES = {"mom": (42, 64), "dad": (42, 64), "boss": (30, 55), "landlord": (35, 65),
        "professor": (35, 60)}
NO_AGE_TAG = ("professor",)

# Number kinds: how a key number is drawn and which keywords show it.
MONEY = (40, 60, 80, 120, 150, 200, 250, 300, 350, 400, 450, 500, 600, 700,
         800, 900, 1200, 1500, 2000)


def draw_number(rng: random.Random, kind: str) -> tuple[str, tuple[str, ...]]:
    """(value as written, keywords) for a number of this kind."""
    if kind == "duration":
        k, unit = rng.randint(2, 11), rng.choice(("weeks", "months"))
        return f"{k} {unit}", (f"{k} {unit}",)
    if kind == "days":
        k = rng.randint(2, 9)
        return f"{k} days", (f"{k} days",)
    if kind == "times":
        k = rng.randint(3, 12)
        return f"{k} times", (f"{k} times",)
    if kind == "money":
        v = rng.choice(MONEY)
        return f"${v}", (str(v),)
    if kind == "score":
        v = rng.randint(31, 69)
        return f"{v}%", (str(v),)
    raise ValueError(f"unknown number kind {kind!r}")


# ---------------------------------------------------------------------------
# Questions: id -> (post forms, summary forms, keywords). Placeholders:
# {he} {his} {him} {himself} take the counterpart's pronouns.
# ---------------------------------------------------------------------------

QUESTIONS = {
    "talk": (("How do I bring it up without starting a fight?",
              "How do I talk to {him} about it without making things awkward?",
              "How should I bring this up with {him}?"),
             ("how do I bring it up?", "how do I talk to {him} about it?",
              "how to bring it up without a fight?", "how do I bring this up?"),
             ("bring it up", "bring this up", "talk to", "bring up")),
    "move_out": (("Should I just move out?", "Is it time to move out?"),
                 ("should I move out?", "time to move out?", "should I just move out?"),
                 ("move out", "moving out")),
    "quit": (("Should I quit?", "Is it time to look for a new job?",
              "Should I just quit at this point?"),
             ("should I quit?", "time to find a new job?", "should I quit my job?"),
             ("quit", "new job")),
    "hr": (("Should I go to HR?", "Is this worth reporting to HR?"),
           ("should I go to HR?", "worth going to HR?", "report it to HR?"),
           ("hr",)),
    "break_up": (("Should I break up with {him}?", "Is this a reason to break up?"),
                 ("should I break up with {him}?", "should I break up?"),
                 ("break up", "breaking up")),
    "overreact": (("Am I overreacting?", "Am I being dramatic here?",
                   "AITA for being upset about this?"),
                  ("am I overreacting?", "am I being dramatic?", "AITA for being upset?"),
                  ("overreacting", "dramatic", "aita")),
    "money_back": (("How do I get my money back?",
                    "How do I ask for the money back without ruining things?"),
                   ("how do I get my money back?", "how to get the money back?"),
                   ("money back",)),
    "let_go": (("Should I just let it go?", "Is it worth it or should I let it go?"),
               ("should I let it go?", "let it go or not?"),
               ("let it go",)),
    "rights": (("What are my rights here?", "What are my legal options?"),
               ("what are my rights?", "what are my legal options?"),
               ("rights", "legal")),
    "police": (("Should I call the police?", "Is it worth calling the cops?"),
               ("should I call the police?", "call the cops?"),
               ("police", "cops")),
    "report": (("Should I report {him}?", "Would it be wrong to report {him}?"),
               ("should I report {him}?", "report {him} or not?"),
               ("report",)),
    "say_no": (("How do I say no without hurting {him}?", "How do I turn {him} down nicely?"),
               ("how do I say no?", "how to turn {him} down?"),
               ("say no", "turn him down", "turn her down")),
    "convince": (("How do I convince {him}?", "How can I change {his} mind?"),
                 ("how do I convince {him}?", "how to change {his} mind?"),
                 ("convince", "change his mind", "change her mind")),
    "kick": (("Should I kick {him} from the group?", "Is it fair to kick {him} from our team?"),
             ("should I kick {him}?", "kick {him} from the group?"),
             ("kick",)),
    "stop_playing": (("Should I stop playing with {him}?",),
                     ("should I stop playing with {him}?", "stop playing with {him}?"),
                     ("stop playing",)),
    "appeal": (("Should I appeal it?", "Is it worth emailing the dean?"),
               ("should I appeal?", "email the dean?"),
               ("appeal", "dean")),
    "pay_for": (("How do I get {him} to pay for it?",),
                ("how do I make {him} pay for it?", "how to get {him} to pay?"),
                ("pay",)),
}


# ---------------------------------------------------------------------------
# Problems. Each: topic, allowed counterparts, number kind (None: no number
# fact, so the post has 3 key facts instead of 4), post phrases (verb phrase
# after the subject), summary phrases without and with the number, keywords,
# allowed questions. Phrases with a number use {num}.
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class _Problem:
    key: str
    topic: str
    cps: tuple[str, ...]
    kind: str | None
    post: tuple[str, ...]
    short: tuple[str, ...]
    short_num: tuple[str, ...]
    keywords: tuple[str, ...]
    questions: tuple[str, ...]


_FAMILY = ("sister", "brother", "cousin", "mom", "dad")

PROBLEMS = (
    # housing
    _Problem("eats_food", "housing", ("roommate",), "duration",
             ("has been eating my food without asking for {num}",
              "keeps eating my groceries and it has been going on for {num}"),
             ("keeps eating my food", "eats my food without asking"),
             ("has been eating my food for {num}", "keeps eating my groceries for {num}"),
             ("food", "groceries"), ("talk", "move_out", "overreact", "let_go")),
    _Problem("never_cleans", "housing",
             ("roommate", "sister", "brother") + PARTNERS, "duration",
             ("has not cleaned the kitchen once in {num}",
              "leaves dirty dishes everywhere and it has been {num} like this"),
             ("never cleans the kitchen", "leaves dirty dishes everywhere"),
             ("has not cleaned the kitchen in {num}", "left dirty dishes everywhere for {num}"),
             ("clean", "cleans", "cleaned", "dishes", "mess"),
             ("talk", "move_out", "overreact")),
    _Problem("rent_share", "housing", ("roommate",), "money",
             ("still owes me {num} in rent", "has not paid {his} share of the rent, {num} so far"),
             ("won't pay {his} rent", "hasn't paid {his} share of the rent"),
             ("owes me {num} in rent", "hasn't paid {num} of rent"),
             ("rent",), ("talk", "move_out", "money_back")),
    _Problem("deposit", "housing", ("landlord",), "money",
             ("kept my {num} deposit for no reason", "refuses to return my {num} deposit"),
             ("kept my deposit", "won't return my deposit"),
             ("kept my {num} deposit", "won't return my {num} deposit"),
             ("deposit",), ("rights", "money_back")),
    _Problem("heating", "housing", ("landlord",), "duration",
             ("still has not fixed the broken heating after {num}",
              "has ignored our broken heater for {num}"),
             ("won't fix the heating", "ignores our broken heater"),
             ("hasn't fixed the heating in {num}", "ignored the broken heater for {num}"),
             ("heating", "heater", "heat"), ("rights", "move_out")),
    _Problem("loud_music", "housing", ("neighbour",), "duration",
             ("plays loud music every night and it has been {num}",
              "has blasted music until late every night for {num}"),
             ("plays loud music every night", "blasts music at night"),
             ("plays loud music every night for {num}", "has blasted music for {num}"),
             ("music", "loud", "noise"), ("talk", "police", "move_out")),
    _Problem("parking", "housing", ("neighbour",), "times",
             ("has parked in my spot {num} this month",
              "keeps taking my parking spot, {num} so far"),
             ("keeps parking in my spot", "takes my parking spot"),
             ("parked in my spot {num}", "took my parking spot {num}"),
             ("parking", "parked", "spot"), ("talk", "police", "let_go")),
    # work
    _Problem("weekends", "work", ("boss",), "duration",
             ("has made me work every weekend for {num}",
              "keeps scheduling me on weekends and it has been {num}"),
             ("wants me to work weekends", "makes me work every weekend"),
             ("made me work weekends for {num}", "has scheduled me on weekends for {num}"),
             ("weekend", "weekends"), ("quit", "talk", "hr")),
    _Problem("credit", "work", ("boss", "coworker"), "times",
             ("has taken credit for my work {num} now",
              "presented my work as {his} own {num} this year"),
             ("takes credit for my work", "steals credit for my work"),
             ("took credit for my work {num}", "has stolen credit for my work {num}"),
             ("credit", "own"), ("talk", "hr", "quit")),
    _Problem("texts_late", "work", ("boss",), "duration",
             ("has been texting me after hours for {num}",
              "keeps texting me on my days off, {num} now"),
             ("texts me after hours", "keeps texting me on my days off"),
             ("has texted me after hours for {num}", "keeps texting me after work for {num}"),
             ("texting", "texts", "texted", "after hours", "days off"),
             ("talk", "quit", "hr")),
    _Problem("overtime", "work", ("boss",), "money",
             ("still owes me {num} in overtime pay", "refuses to pay {num} of overtime"),
             ("won't pay my overtime", "refuses to pay overtime"),
             ("owes me {num} in overtime", "won't pay {num} of overtime"),
             ("overtime",), ("hr", "quit", "money_back")),
    _Problem("yells", "work", ("boss", "coworker", "mom", "dad"), "times",
             ("has yelled at me in front of everyone {num} this month",
              "screamed at me in front of people {num} since spring"),
             ("yells at me in front of everyone", "screams at me in public"),
             ("yelled at me {num} this month", "has screamed at me {num}"),
             ("yells", "yelled", "yelling", "screams", "screamed"),
             ("talk", "hr", "overreact")),
    _Problem("tasks", "work", ("coworker",), "duration",
             ("keeps dumping {his} tasks on me and it has been {num}",
              "has left {his} tasks for me to finish for {num}"),
             ("dumps {his} tasks on me", "makes me do {his} tasks"),
             ("dumped {his} tasks on me for {num}", "made me do {his} tasks for {num}"),
             ("tasks",), ("talk", "hr", "let_go")),
    # money and family
    _Problem("borrowed", "money",
             ("friend", "brother", "sister", "cousin", "roommate", "coworker"), "money",
             ("borrowed {num} from me and never paid it back",
              "still has not returned the {num} I lent {him}"),
             ("borrowed money and never paid it back", "won't pay me back"),
             ("borrowed {num} and never paid it back", "owes me {num}"),
             ("borrowed", "owes", "lent", "pay me back", "paid it back"),
             ("money_back", "talk", "let_go")),
    _Problem("cosign", "money", _FAMILY + ("friend",) + PARTNERS, "money",
             ("wants me to co-sign a {num} loan", "keeps pushing me to co-sign {his} {num} loan"),
             ("wants me to co-sign a loan", "pushes me to co-sign {his} loan"),
             ("wants me to co-sign a {num} loan", "wants me to co-sign {his} {num} loan"),
             ("co sign", "cosign", "loan"), ("say_no", "overreact")),
    _Problem("asks_money", "money", _FAMILY + ("friend",), "times",
             ("has asked me for money {num} this year",
              "keeps asking me for cash, {num} since summer"),
             ("keeps asking me for money", "always asks me for cash"),
             ("asked me for money {num} this year", "has asked me for cash {num}"),
             ("money", "cash"), ("say_no", "overreact", "talk")),
    _Problem("wedding", "money", ("sister", "brother", "cousin", "friend"), "money",
             ("expects me to pay {num} toward {his} wedding",
              "wants {num} from me for {his} wedding"),
             ("wants me to pay for {his} wedding", "expects money for {his} wedding"),
             ("wants me to pay {num} for {his} wedding", "expects {num} for {his} wedding"),
             ("wedding",), ("say_no", "overreact")),
    # relationships
    _Problem("phone", "relationships", PARTNERS, "duration",
             ("has been going through my phone while I sleep for {num}",
              "keeps checking my phone behind my back, {num} now"),
             ("goes through my phone", "keeps checking my phone"),
             ("has gone through my phone for {num}", "keeps checking my phone for {num}"),
             ("phone",), ("break_up", "overreact", "talk")),
    _Problem("birthday", "relationships", PARTNERS + ("friend",) + PARENTS, None,
             ("forgot my birthday again this year", "completely forgot my birthday"),
             ("forgot my birthday", "forgot my birthday again"), (),
             ("birthday",), ("overreact", "talk", "let_go")),
    _Problem("ex", "relationships", PARTNERS, "duration",
             ("still texts {his} ex every day and we have been together {num}",
              "has been secretly talking to {his} ex for {num}"),
             ("still texts {his} ex", "talks to {his} ex every day"),
             ("has talked to {his} ex for {num}", "has been texting {his} ex for {num}"),
             ("ex",), ("break_up", "overreact", "talk")),
    _Problem("move_in", "relationships", ("boyfriend", "girlfriend"), "duration",
             ("wants to move in together after only {num} of dating",
              "asked me to move in after {num} together"),
             ("wants to move in together", "asked me to move in"),
             ("wants to move in after {num}", "asked me to move in after {num}"),
             ("move in", "moving in"), ("say_no", "overreact", "talk")),
    _Problem("gaming", "gaming", PARTNERS + ("roommate", "brother"), "duration",
             ("spends every night gaming instead of helping, for {num} now",
              "has played video games all night for {num}"),
             ("spends every night gaming", "games all night instead of helping"),
             ("has spent every night gaming for {num}", "has gamed all night for {num}"),
             ("gaming", "games", "gamed"), ("talk", "overreact", "break_up")),
    # school
    _Problem("group_project", "school", ("classmate",), "days",
             ("won't do {his} part of our group project and it is due in {num}",
              "ignores our group project even though it is due in {num}"),
             ("won't do {his} part of the project", "is slacking on our group project"),
             ("won't do {his} part of the project due in {num}",
              "ignores our project due in {num}"),
             ("project",), ("report", "talk")),
    _Problem("homework", "school", ("classmate", "roommate", "friend"), None,
             ("copied my homework and now we both got flagged",
              "copied my homework without asking"),
             ("copied my homework", "copied my homework and got us flagged"), (),
             ("homework", "copied"), ("report", "overreact", "talk")),
    _Problem("grade", "school", ("professor",), "score",
             ("gave me a {num} on an essay I worked really hard on",
              "graded my paper {num} with almost no comments"),
             ("gave me an unfair grade", "graded my essay unfairly"),
             ("gave me a {num} on my essay", "graded my paper {num}"),
             ("grade", "graded", "essay", "paper"), ("appeal", "talk", "overreact")),
    # pets
    _Problem("no_cat", "pets", ("roommate", "landlord") + PARTNERS + PARENTS, None,
             ("refuses to let me adopt a cat", "says no to me getting a cat"),
             ("won't let me get a cat", "won't let me adopt a cat"), (),
             ("cat", "adopt"), ("convince", "overreact")),
    _Problem("walks", "pets", ("roommate", "brother", "sister"), "times",
             ("promised to walk my dog while I work but skipped it {num}",
              "forgot to walk my dog {num} this month"),
             ("won't walk my dog", "keeps skipping my dog's walks"),
             ("skipped walking my dog {num}", "forgot to walk my dog {num}"),
             ("walk", "walks", "walking"), ("talk", "let_go")),
    _Problem("scraps", "pets", ("roommate", "boyfriend", "girlfriend") + PARENTS, None,
             ("feeds my dog table scraps even though the vet said not to",
              "keeps sneaking my dog scraps from the table"),
             ("feeds my dog scraps", "keeps feeding my dog table scraps"), (),
             ("scraps", "feeds", "feeding"), ("talk", "convince", "overreact")),
    # health
    _Problem("doctor", "health", PARTNERS + PARENTS, "duration",
             ("has had a bad cough for {num} but refuses to see a doctor",
              "won't see a doctor about a cough that has lasted {num}"),
             ("won't see a doctor about {his} cough", "refuses to see a doctor"),
             ("has had a cough for {num} and won't see a doctor",
              "has ignored a cough for {num}"),
             ("doctor", "cough"), ("convince", "talk")),
    _Problem("drinking", "health", PARTNERS + PARENTS + ("brother", "roommate"), "duration",
             ("drinks every night and gets mean, it has been {num}",
              "has been drinking heavily for {num}"),
             ("drinks every night", "has a drinking problem"),
             ("has been drinking every night for {num}", "has been drinking heavily for {num}"),
             ("drinks", "drinking", "drunk"), ("talk", "convince", "break_up")),
    # gaming
    _Problem("rage_quits", "gaming", ("teammate", "friend", "brother"), "times",
             ("has rage quit our ranked matches {num} this week",
              "rage quits every time we lose, {num} this week"),
             ("rage quits every match", "keeps rage quitting"),
             ("rage quit {num} this week", "has rage quit our matches {num}"),
             ("rage",), ("kick", "stop_playing", "talk")),
    _Problem("raids", "gaming", ("teammate", "friend"), "times",
             ("has skipped our raid nights {num} without telling anyone",
              "missed our raids {num} in a row"),
             ("keeps skipping our raids", "never shows up to raid night"),
             ("skipped our raids {num}", "missed raid night {num}"),
             ("raid", "raids"), ("kick", "talk")),
    _Problem("console", "gaming", ("brother", "roommate", "cousin", "friend"), "money",
             ("broke my {num} console and won't replace it",
              "dropped my {num} console and acts like it is nothing"),
             ("broke my console", "broke my console and won't replace it"),
             ("broke my {num} console", "wrecked my {num} console"),
             ("console",), ("pay_for", "talk")),
)

# Which questions fit which counterparts (others fit everyone).
QUESTION_CPS = {"break_up": PARTNERS, "move_out": ("roommate", "landlord", "neighbour")
                 + PARTNERS + PARENTS + ("sister", "brother")}

SUBREDDITS = {
    "housing": ("roommates", "Advice", "relationship_advice", "legaladvice"),
    "work": ("jobs", "careerguidance", "Advice", "antiwork"),
    "money": ("personalfinance", "Advice", "relationship_advice", "AmItheAsshole"),
    "relationships": ("relationships", "relationship_advice", "dating_advice"),
    "school": ("college", "Advice", "GradSchool"),
    "pets": ("dogs", "cats", "Pets", "Advice"),
    "health": ("Advice", "relationships", "AskDocs"),
    "gaming": ("gaming", "leagueoflegends", "Advice", "relationships"),
}

# Non-key sentences: they carry no key fact. Context sentences may mention
# people ("my friends") but never a number.
CONTEXT = (
    "I have tried dropping hints but nothing changes.",
    "Everyone I ask tells me something different.",
    "It is starting to affect my sleep.",
    "I really don't want to make things awkward.",
    "We used to get along really well.",
    "Honestly I am exhausted.",
    "Last time I mentioned it {he} just laughed.",
    "{He} says it is not a big deal.",
    "My friends think I should just ignore it.",
    "I am usually pretty easygoing about this stuff.",
    "It feels petty but it keeps bugging me.",
    "I don't know if this is normal or not.",
    "Otherwise {he} is a nice person.",
    "I hate confrontation so I have said nothing.",
    "It came to a head last night.",
    "I feel like I am going crazy.",
)
FILLER_START = (
    "Throwaway because {he} knows my main.",
    "Long time lurker, first post.",
    "Not sure if this is the right sub.",
    "Sorry for formatting, on mobile.",
    "English is not my first language, sorry.",
)
FILLER_END = (
    "Edit: thanks for all the replies so far.",
    "Sorry for the rant.",
    "Thanks in advance.",
    "Sorry for formatting, on mobile.",
)
INTROS = (
    "So my {cp}{tag} and I have a problem.",
    "I{me} need some outside perspective on my {cp}{tag}.",
    "Some context: my {cp}{tag} and I usually get along fine.",
    "I{me} have known my {cp}{tag} for years.",
    "This is about my {cp}{tag}.",
)
TITLES = (
    "{Cp} {short}", "My {cp}{tag} {short}", "[Help] {Cp} {short}",
    "{Cp} {short}, advice?", "Need advice about my {cp}", "Not sure how to handle my {cp}",
    "{Cp} problems", "Is this normal?", "Help!", "Am I overreacting?",
)
GENERIC = (
    "need advice about my situation.",
    "having some problems and not sure what to do, any advice?",
    "things are complicated and I need help with it.",
    "long story, please help me figure this out.",
    "something happened and I need advice on it.",
    "stuck in a bad situation, what should I do?",
)
GENERIC_CP = (
    "problems with my {cp}, need advice.",
    "my {cp} is being difficult, what should I do?",
    "{cp} drama, not sure what to do.",
)
PADDING = (
    "So basically, long story short,", "Okay so this is kind of a long one but",
    "Not sure how to say this but", "Anyway, to sum it all up,",
)
# Hallucinated additions: a new person or number the post never mentions.
HALLU_CP = ("and my {cp2} agrees with me", "and my {cp2} thinks I'm overreacting",
            "and now my {cp2} is involved too", "and my {cp2} took {his} side")
HALLU_NUM = ("even after {k} warnings", "and {he} owes me ${v} too",
             "after {k} arguments about it")
