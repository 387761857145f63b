"""The tweet corpus: a synthetic offline default and a Hugging Face loader.

Two sources, one shape (``Tweet(text, label)`` with 0 negative, 1 neutral,
2 positive):

- ``"synthetic"`` (the default, no internet needed): tweet-like texts that
  this module *generates* from hand-written phrase banks and a seed. They are
  synthetic, not real tweets: templates filled with topics, openers, negation
  ("not bad at all", "not happy"), intensifiers, emoji, hashtags, @mentions,
  slang and typos. The label comes from the template that built the text, and
  the independent judge (VADER, see ``judge.py``) agrees with it on most
  positive/negative items; ``judge.judge_agreement`` measures it.
- ``"hf"``: ``mteb/tweet_sentiment_extraction`` (real tweets) through the
  optional ``datasets`` package, or local files in the same schema
  (``text``, ``label``, ``label_text``) read from ``data_dir``.

Many tweets start with a short opener ("Today I feel", "The weather is",
"My friend told me", ...). Every opener is used with all three labels, so a
prompt does not decide the sentiment: that leaves the RL stage room to move a
model toward positive completions.
"""

from __future__ import annotations

import csv
import json
import os
import random
from dataclasses import dataclass

LABELS = ("negative", "neutral", "positive")
NEG, NEU, POS = 0, 1, 2

# The story's three prompts; they are openers of the synthetic corpus.
RL_PROMPTS = ("Today I feel", "The weather is", "My friend told me")


@dataclass(frozen=True)
class Tweet:
    text: str
    label: int  # 0 negative, 1 neutral, 2 positive


# ---------------------------------------------------------------------------
# Phrase banks. Neutral phrases avoid every word VADER scores (e.g. "like",
# "ok", "sunny", "ready", "please"), so neutral tweets stay neutral to the
# judge. Banks indexed by label are tuples (negative, neutral, positive).
# ---------------------------------------------------------------------------

# Openers by the grammar of what follows them.
FEEL_OPENERS = (
    "Today I feel", "Right now I feel", "Tonight I feel", "This week I feel",
    "I feel", "Ngl I feel", "Woke up", "Still", "Today I'm",
    "This afternoon I feel", "After the meeting I feel",
)
WEATHER_OPENERS = (
    "The weather is", "The weather today is", "Weather here is",
    "The weather this weekend is", "Right now the weather is",
)
CLAUSE_OPENERS = (  # followed by a full clause: subject + predicate
    "My friend told me", "I think", "Honestly", "This morning", "Can't believe",
    "Just found out", "Apparently", "So apparently", "Not gonna lie",
    "Tbh", "My mom said", "I heard", "Guess what", "Last night", "Just heard",
    "Yesterday", "After work", "Update:", "Turns out", "Reminder:",
    "In other news", "So", "Meanwhile", "Lowkey", "Rn", "My sister says",
    "Everyone says", "My roommate thinks", "Real talk", "Quick update:",
    "At lunch", "On the way home", "Between classes", "Omg", "Btw",
    "My dad says", "Someone at work said", "Just saw that", "Imo",
    "Oh and", "This weekend", "Tonight",
)
OBJECT_OPENERS = {  # followed by a thing of these kinds, then a verdict
    "Just watched": ("media",), "Just finished": ("media", "event"),
    "Finally watched": ("media",), "Just tried": ("food", "place", "product"),
    "Just got back from": ("event", "place"), "Just saw": ("media",),
    "Tried": ("food", "place"), "Went to": ("event", "place"),
    "Binged": ("media",), "Listened to": ("music",), "Just bought": ("product",),
    "Ordered": ("food",), "Just got": ("product",), "Streamed": ("media", "music"),
}
PERSON_OPENERS = (  # a person as the subject, followed by a person predicate
    "My boss", "My uncle", "My teacher", "My landlord", "My neighbour",
    "My brother", "My coworker", "The new guy at work", "My mom", "Our coach",
    "My roommate", "The driver",
)
THING_OPENERS = (  # a thing as the subject, followed by a thing predicate
    "My phone", "The bus", "The traffic", "The internet", "Work today",
    "School today", "The coffee here", "This song", "The train", "My laptop",
    "Our team", "The food here", "Class today", "The queue", "The wifi",
)
ACTIVITY_OPENERS = (  # followed by who did it and what they did
    "This morning", "Yesterday", "Last night", "This weekend", "After work",
    "Earlier today", "On Sunday", "Tonight", "Today",
)
DOERS = ("I", "we", "my sister and I", "my roommate and I", "the team and I",
         "my dad and I")
ACTIVITIES = (
    "went hiking", "went for a run", "cleaned the whole flat", "cooked dinner",
    "painted the fence", "took the dog for a walk", "went bowling",
    "went to tennis practice", "went to the dentist", "did the laundry",
    "drove to the coast", "went camping", "baked bread", "moved apartments",
    "built a bookshelf", "took the train into town", "went shopping",
    "tried yoga", "studied for six hours", "stayed up gaming",
    "went swimming", "visited my grandparents", "fixed the sink",
    "planted tomatoes", "rode my bike to work", "went to the farmers market",
    "had a job interview", "ran a 5k", "walked around the old town",
    "did karaoke", "cooked for ten people", "went to the museum",
    "repainted my room", "took a pottery class", "went fishing",
    "watched three movies in a row", "worked a double shift",
    "went to the beach", "flew to denver", "drove across the state",
    "went to a cooking class", "had a long chat with my mom",
    "sorted out my taxes", "went ice skating", "rearranged the living room",
)
ACTIVITY_VERDICT = (
    ("and it was a disaster", "and hated every minute", "and it was exhausting",
     "worst idea ever", "and it was so stressful", "and everything went wrong",
     "and now my back hurts", "and I got lost, so annoying",
     "and it was miserable", "and it was so boring", "and I feel terrible now",
     "and it was awful"),
    ("and then had lunch", "for about two hours", "and now I'm home",
     "then took the bus back", "for the first time in years",
     "before lunch", "and it took all afternoon", "and then went home",
     "in the morning", "with @alex", "then made tea"),
    ("and it was amazing", "and loved every minute", "best decision ever",
     "and it was so much fun", "and it felt great", "what a great day",
     "and it was so relaxing", "and it was the perfect day",
     "and I'm so happy", "and it was wonderful", "and it was a blast, so good",
     "and it was lovely"),
)
NEW_OPENER = "The new"  # followed by a product/media noun, then a predicate
GAME_OPENER = "Watching the game"  # followed by its own continuations
OPENERS = (
    FEEL_OPENERS + WEATHER_OPENERS + CLAUSE_OPENERS + tuple(OBJECT_OPENERS)
    + PERSON_OPENERS + THING_OPENERS + (NEW_OPENER, GAME_OPENER)
    + tuple(o for o in ACTIVITY_OPENERS if o not in CLAUSE_OPENERS)
)

THINGS = {
    "media": ("movie", "film", "episode", "documentary", "season finale",
              "show", "series", "trailer", "sequel", "anime", "sitcom",
              "stand up show", "music video", "remake", "cartoon", "drama",
              "mystery series", "spy movie", "western", "musical", "game show",
              "talk show", "miniseries", "short film", "opera", "ballet",
              "detective show", "cooking show", "reality show", "pilot"),
    "music": ("album", "podcast", "playlist", "single", "mixtape", "song",
              "audiobook", "radio show", "record", "remix", "cover",
              "soundtrack", "live album", "duet", "radio station", "ep"),
    "food": ("pizza", "burger", "coffee", "tacos", "sushi", "pasta",
             "smoothie", "salad", "curry", "pancakes", "ramen", "bagel",
             "burrito", "latte", "noodles", "sandwich", "fries", "soup",
             "omelette", "waffles", "donut", "croissant", "pho", "steak",
             "fried chicken", "hot dog", "ice cream", "milkshake", "tea",
             "espresso", "cheesecake", "brownie", "kebab", "falafel",
             "lasagna", "quesadilla", "bubble tea", "nachos", "apple pie",
             "chili", "toast", "wings", "poke bowl", "iced coffee", "dim sum"),
    "place": ("cafe", "restaurant", "gym", "diner", "bakery", "bookshop",
              "food truck", "market", "museum", "bar", "pizza place",
              "taco place", "barber", "arcade", "bookstore", "coffee shop",
              "library", "pool", "zoo", "aquarium", "bowling alley", "cinema",
              "theater", "hotel", "hair salon", "record store",
              "farmers market", "night market", "rooftop bar",
              "karaoke place", "ramen shop", "climbing gym", "mall",
              "board game cafe", "car wash"),
    "product": ("phone", "laptop", "headphones", "sneakers", "jacket",
                "tablet", "camera", "keyboard", "watch", "console",
                "speaker", "backpack", "hoodie", "bike", "charger",
                "smartwatch", "earbuds", "printer", "monitor", "mouse",
                "router", "tv", "vacuum", "blender", "air fryer", "kettle",
                "scooter", "umbrella", "sunglasses", "boots", "mattress",
                "desk chair", "e-reader", "controller", "phone case",
                "app", "video game", "coffee maker"),
    "event": ("concert", "meeting", "exam", "interview", "trip", "flight",
              "road trip", "match", "class", "shift", "presentation",
              "workshop", "parade", "gig", "lecture", "practice", "tour",
              "wedding", "birthday dinner", "career day", "open day",
              "hackathon", "yoga class", "spin class", "dentist appointment",
              "team dinner", "game night", "book club", "marathon", "5k",
              "football match", "basketball game", "baseball game",
              "tournament", "camping trip", "family reunion", "staff meeting",
              "group project", "final exam", "quiz", "driving test",
              "first day", "housewarming", "school trip", "bike ride"),
}
# Neutral words that make topics and subjects vary.
MODIFIERS = ("new", "latest", "local", "big", "little", "second", "last",
             "weekend", "late", "early", "morning", "evening", "downtown",
             "campus", "office", "two hour", "school", "old", "corner",
             "sunday", "friday", "midnight", "online", "monthly", "annual",
             "city", "student", "neighbourhood", "first", "other")
DETERMINERS = ("the", "the", "my", "our", "this", "that")
PLACES = ("at the station", "at work", "downtown", "on campus", "at home",
          "in the city", "at the mall", "on the train", "at my desk",
          "in the kitchen", "at the office", "on the bus", "in class",
          "at the airport", "at my mom's")
TIMES = ("today", "tonight", "this morning", "last night", "yesterday",
         "this week", "on monday", "on friday", "this weekend", "at lunch",
         "after work", "after school", "before class", "around noon",
         "at 7", "at 9", "since 6am")
MENTIONS = ("@jess_92", "@mike", "@sam_t", "@alex", "@emma", "@chris_b",
            "@nina", "@tom", "@lucy", "@dave", "@maya", "@jordan", "@kate",
            "@ben", "@priya", "@leo")
PEOPLE = ("my aunt", "my sister", "my brother", "my mom", "my dad",
          "my roommate", "my boss", "my cousin", "my uncle", "my neighbour",
          "my team", "everyone", "the whole class", "my coworker")

INTENS = ("so", "really", "very", "super", "totally", "absolutely", "sooo",
          "extremely", "seriously", "incredibly", "pretty", "kinda")

POS_ADJ = ("amazing", "awesome", "great", "fantastic", "wonderful",
           "brilliant", "perfect", "lovely", "beautiful", "excellent",
           "impressive", "fabulous", "superb", "outstanding", "enjoyable",
           "fun", "nice", "cool", "sweet", "good", "glorious", "funny",
           "hilarious", "stunning", "magnificent", "charming", "fascinating",
           "delightful", "terrific", "marvelous", "flawless", "pleasant",
           "satisfying", "relaxing", "classy", "lit", "dope")
NEG_ADJ = ("awful", "terrible", "horrible", "disappointing", "annoying",
           "ugly", "painful", "stupid", "pathetic", "useless", "depressing",
           "frustrating", "dreadful", "miserable", "nasty", "bad", "lame",
           "boring", "gross", "sad", "disgusting", "horrendous", "tragic",
           "embarrassing", "ridiculous", "worthless", "irritating", "unfair",
           "weak", "poor", "stressful", "exhausting", "messy", "dirty",
           "mediocre", "mid")
FOOD_POS = ("delicious", "yummy", "amazing", "so good", "perfect", "great")
FOOD_NEG = ("gross", "disgusting", "awful", "nasty", "terrible", "bad")

FEEL = (
    ("sad", "tired", "awful", "terrible", "lonely", "stressed", "anxious",
     "miserable", "exhausted", "angry", "upset", "sick", "hopeless",
     "depressed", "frustrated", "bored", "worried", "heartbroken",
     "not happy", "not good", "not great", "nervous", "scared", "furious",
     "devastated", "drained", "annoyed", "gutted", "disappointed",
     "embarrassed", "crushed", "not okay", "not happy at all", "awful again"),
    ("hungry", "awake", "the same as yesterday", "in between", "half awake",
     "hot", "cold", "full", "overdressed", "underdressed", "still in pyjamas",
     "thirsty again", "in need of coffee", "in the mood for noodles",
     "somewhere in the middle", "done with the laundry",
     "normal", "quiet", "busy", "sleepy", "thirsty",
     "full after lunch", "the usual", "caffeinated",
     "in the mood for tea", "mostly awake"),
    ("happy", "great", "amazing", "so good", "excited", "grateful", "blessed",
     "relaxed", "proud", "cheerful", "joyful", "fantastic", "wonderful",
     "hopeful", "confident", "lucky", "thankful", "peaceful", "motivated",
     "not bad at all", "energized", "calm", "thrilled", "delighted",
     "glad", "optimistic", "inspired", "loved", "strong", "free",
     "better than ever", "really good", "so happy", "blessed and grateful"),
)
FEEL_REASON = (
    ("after that meeting", "because of the traffic", "after the news",
     "since I failed the exam", "after the fight with my roommate",
     "because everything went wrong", "after losing my wallet",
     "because the trip got cancelled", "and nothing is helping",
     "and I hate it", "after a horrible night", "with this headache"),
    ("after the long weekend", "before work", "at the station",
     "on the way home", "after the gym", "at my desk", "after dinner",
     "before the meeting", "and it is only 10am", "after two coffees",
     "on a tuesday", "in the middle of the week"),
    ("after the good news", "because the exam went well", "after a great run",
     "since the weekend is here", "because my friend is visiting",
     "after the best night ever", "and I love it", "thanks to @mike",
     "after getting the job", "because we won", "with my favorite people",
     "after a lovely walk"),
)
WEATHER = (
    ("awful", "terrible", "horrible", "miserable", "depressing", "so gloomy",
     "nasty", "the worst", "gross and cold", "just sad", "not nice at all",
     "bad again", "a disaster", "cold and horrible"),
    ("cloudy", "about 15 degrees", "windy", "humid", "overcast",
     "changing every hour", "the same as yesterday", "foggy", "cold",
     "about average for march", "cloudy with some wind", "a bit windy",
     "dry for now", "around 20 degrees"),
    ("gorgeous", "beautiful", "lovely", "perfect", "amazing", "so nice",
     "sunny and warm", "glorious", "great for a walk", "wonderful",
     "not bad at all", "perfect beach weather", "just beautiful"),
)
WEATHER_TAIL = (
    ("and I hate it", "so I'm stuck inside", "and my plans are ruined",
     "ugh", "again", "all week"),
    ("today", "this morning", "right now", "in the city", "all week",
     "again", "here"),
    ("today", "and I love it", "so we're going to the beach", "finally",
     "all week", "for the picnic"),
)
# Predicates for things: "the concert" + "was amazing".
THING_PRED = (
    ("was awful", "was terrible", "sucked", "was the worst", "was boring",
     "ruined my day", "was a total disaster", "is broken again",
     "was not good at all", "was not fun", "made me so sad",
     "was a waste of time", "is so annoying", "was disappointing",
     "was a mess", "failed again", "was horrible", "is driving me crazy",
     "was worse than last time", "let everyone down", "was painful",
     "got cancelled and I'm upset", "was a nightmare and I hate it",
     "keeps crashing and it's so frustrating", "was a joke, not funny at all",
     "was overpriced and bad", "left me disappointed", "was a huge failure",
     "made everyone miserable", "is a total mess", "hurt my ears",
     "broke after two days", "is the worst thing ever"),
    ("starts at 8", "is on thursday this week", "took about two hours",
     "got moved to next week", "is at the usual place", "was on channel 4",
     "comes out in june", "takes about twenty minutes", "is downstairs",
     "is the same as always", "is the same as last year", "opens at nine",
     "ended around midnight", "has a new menu", "is next to the station",
     "is in the other building", "was on the news", "runs until friday",
     "was the topic at lunch", "is on the second floor",
     "costs about ten dollars", "is in two weeks", "has a new logo",
     "was shorter than last time", "arrived this morning", "is charging",
     "comes in three colours", "is in my bag", "is parked outside",
     "came in the mail", "runs on batteries", "is on the table",
     "starts again in september", "is closed on sundays",
     "is a short walk from here", "was sold out by noon", "is at 6:30",
     "got a software update", "is open until ten", "moved to the old building"),
    ("was amazing", "is so good", "was the best", "went really well",
     "was awesome", "made my day", "was perfect", "is great", "was fun",
     "was brilliant", "is lovely", "was not bad at all",
     "was better than expected", "was wonderful", "is the best thing ever",
     "made me smile", "was a win", "is beautiful", "was fantastic",
     "was worth it", "was excellent", "was so much fun", "was a masterpiece",
     "exceeded every hope, just perfect", "is pure joy", "was a success",
     "made everyone happy", "was a total blessing", "is my new favorite",
     "was such a treat", "is so satisfying", "was pure bliss",
     "is the best thing ever", "was absolutely stunning"),
)
PERSON_PRED = (
    ("is so annoying", "yelled at me again", "is the worst", "was so rude today",
     "blamed me for everything", "made me stay late again",
     "is driving me crazy", "ignored me all day", "was mean to me",
     "lied to me again", "broke my charger", "is being awful",
     "cancelled on me again", "ruined the weekend", "made me cry",
     "forgot my birthday and I'm so hurt", "was so unfair to me",
     "embarrassed me in front of everyone", "keeps complaining about everything",
     "ate my lunch again, so annoying", "is being so weird and rude"),
    ("is out of office until monday", "moved the meeting to three",
     "sent another email about the schedule", "is away this week",
     "is at a conference in denver", "asked about the numbers",
     "switched desks", "took the early train", "is driving to the airport",
     "has a dentist appointment at 4", "bought a new car",
     "is working from home today", "just texted me the address",
     "is making pasta for dinner", "moved to the third floor",
     "is moving to chicago next month", "just got a haircut",
     "is learning spanish", "called about the rent", "is taking the bus today",
     "went to the store", "left at 5", "has a new address",
     "changed the password", "is watching the kids tonight"),
    ("is the best", "gave us the afternoon off", "bought everyone lunch",
     "is so kind", "said I did a great job", "was really nice to me today",
     "got me a gift", "helped me out a lot", "made me laugh all day",
     "is so sweet", "surprised me with cake and I love it",
     "is amazing", "cheered me up", "is always there for me",
     "made the day so much better", "is such a good friend",
     "brought me soup when I was sick, so kind", "made me laugh so hard",
     "gave me the best advice", "is so funny and kind", "won the award and I'm so proud"),
)
OBJECT_VERDICT = (
    ("and it was awful", "and it was terrible", "and I hated it",
     "and it was so boring", "and it was a waste of money",
     "and it was not good at all", "worst one yet", "and I regret it",
     "and it was a disaster", "and it made me sick", "total waste of time",
     "and it was so disappointing", "and I want my money back, awful",
     "never again, terrible", "and it made me so angry", "1/10 would not recommend, terrible",
     "and it was a nightmare, hated it"),
    ("and it took about two hours", "for the first time", "with my sister",
     "after work", "on the train home", "and now I'm heading home",
     "at the place near the station", "it took about an hour",
     "with the whole team", "this afternoon", "on my laptop",
     "and now it's time for bed", "and it was my first time",
     "it took about an hour", "after the gym", "before class",
     "on the way to work", "while waiting for the bus", "in one night"),
    ("and it was amazing", "and I loved it", "and it was so good",
     "best one yet", "and it was perfect", "and it was not bad at all",
     "highly recommend", "and it was awesome", "10/10 would recommend",
     "and it was brilliant", "and it made my day", "totally worth it",
     "and it was pure joy", "so good I want more", "and it was a delight",
     "new favorite, love it", "and it was magnificent"),
)
GAME_CONT = (
    ("and we are losing badly", "and the refs are awful",
     "and our defense is terrible", "and this is so painful to watch",
     "and we lost again", "and I'm so angry right now"),
    ("with the guys", "at the bar downtown", "on the laptop",
     "with my dad", "at my cousin's place", "in the kitchen"),
    ("and we are winning", "and what a great goal",
     "and this is so much fun", "and we won", "with friends and loving it",
     "and it's amazing"),
)
TAILS = (
    ("ugh", "so annoyed", "worst day ever", "can't deal with this",
     "I hate mondays", "smh", "why me", "so done", "what a mess",
     "seriously upset", "not happy about it", "fml", "this sucks", "kill me now",
     "so over it", "hate everything today", "what a nightmare", "so tired of this",
     "never again", "unbelievably bad"),
    ("anyway", "will update", "more later", "we'll see", "that's all",
     "brb", "details later", "see you there", "if anyone needs me",
     "on my way", "off to bed", "back in ten", "time to go",
     "just saying", "heading out now", "back to work", "for the record",
     "in case anyone asks", "noted"),
    ("love it", "best day ever", "so grateful", "lol", "yay",
     "can't stop smiling", "life is good", "so happy", "woohoo",
     "good vibes only", "thank you", "so proud", "love this", "amazing day",
     "so thankful", "heart full", "blessed", "living my best life", "haha so good",
     "yes!!", "feeling lucky"),
)
EMOJI = (
    ("😞", "😢", "😭", "😩", "😫", "😡", "😤", "😒", "👎", "🙄", ":(", ":/"),
    ("☕", "🤔", "📅", "🚌", "🎧", "📚", "🍕", "🏀", "🎬", "📱", "🚗", "👀",
     "📸", "✈️", "🏠"),
    ("😊", "😍", "🥰", "😁", "✨", "😄", "🎉", "❤️", "👍", "🙌", ":)", ":D",
     "<3", ";)"),
)
HASHTAGS = (
    ("#fail", "#mondayblues", "#annoyed", "#worstdayever", "#ugh", "#sad",
     "#nope"),
    ("#monday", "#weekend", "#work", "#commute", "#coffee", "#movies",
     "#food", "#travel", "#tbt", "#music", "#school", "#gameday", "#news"),
    ("#blessed", "#happy", "#goodvibes", "#grateful", "#winning", "#love",
     "#happyfriday"),
)
# Slang and typos only rewrite words that carry no sentiment.
TYPOS = {
    "the": ("teh",), "because": ("bc", "cuz", "becuase"), "really": ("rly", "realy"),
    "tomorrow": ("tmrw", "tomorow"), "tonight": ("tonite", "2nite"),
    "you": ("u",), "your": ("ur",), "with": ("w/",), "people": ("ppl",),
    "probably": ("prob", "probly"), "though": ("tho",), "about": ("abt",),
    "before": ("b4",), "tonight's": ("tonite's",), "to": ("2",),
    "and": ("n", "&"), "minutes": ("mins",), "morning": ("mornin",),
    "going": ("goin",), "something": ("smth",), "right": ("rite",),
    "so": ("soo", "sooo"), "what": ("wat",), "please": ("pls",),
}


# ---------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------

def _pick(rng: random.Random, seq):
    # Same as rng.choice but ~3x faster: one C call instead of two Python frames.
    return seq[int(rng.random() * len(seq))]


THING_KINDS = tuple(THINGS)
OBJECT_OPENER_LIST = tuple(OBJECT_OPENERS)
CONNECTIVES = ("and ", "for ", "with ", "after ", "on ", "at ", "this ", "it ",
               "before ", "in ", "while ")
NEW_NOUNS = THINGS["product"] + THINGS["media"] + THINGS["music"]
PLACES_TIMES = PLACES + TIMES
TYPO_WORDS = frozenset(TYPOS)


def _thing(rng: random.Random, kinds=None) -> str:
    """A neutral noun phrase such as 'the new album' or 'my coffee'."""
    kind = _pick(rng, kinds or THING_KINDS)
    noun = _pick(rng, THINGS[kind])
    if rng.random() < 0.35:
        noun = _pick(rng, MODIFIERS) + " " + noun
    return _pick(rng, DETERMINERS) + " " + noun


def _adj(rng: random.Random, label: int) -> str:
    """A sentiment adjective, sometimes intensified or negated."""
    if label == POS:
        if rng.random() < 0.1:
            return _pick(rng, ("not bad at all", "not bad", "not terrible at all"))
        word = _pick(rng, POS_ADJ)
    else:
        if rng.random() < 0.12:
            return "not " + _pick(rng, ("good", "great", "fun", "nice",
                                        "good at all", "great at all"))
        word = _pick(rng, NEG_ADJ)
    if rng.random() < 0.4:
        word = _pick(rng, INTENS) + " " + word
    return word


def _pred(rng: random.Random, label: int) -> str:
    """A predicate for a thing: fixed phrases or 'was/is' + adjective."""
    if label != NEU and rng.random() < 0.5:
        return _pick(rng, ("was", "is", "was", "looks", "seems")) + " " + _adj(rng, label)
    return _pick(rng, THING_PRED[label])


def _core(rng: random.Random, label: int) -> str:
    """The opener and the sentiment-bearing clause that follows it."""
    r = rng.random()
    if r < 0.16:
        opener = _pick(rng, FEEL_OPENERS)
        text = f"{opener} {_intensify(rng, _pick(rng, FEEL[label]), label)}"
        if rng.random() < 0.5:
            text += " " + _pick(rng, FEEL_REASON[label])
        return text
    if r < 0.26:
        opener = _pick(rng, WEATHER_OPENERS)
        text = f"{opener} {_intensify(rng, _pick(rng, WEATHER[label]), label)}"
        if rng.random() < 0.5:
            text += " " + _pick(rng, WEATHER_TAIL[label])
        return text
    if r < 0.36:
        opener = _pick(rng, ACTIVITY_OPENERS)
        verdict = _pick(rng, ACTIVITY_VERDICT[label])
        sep = " " if verdict.startswith(CONNECTIVES) else _pick(rng, (", ", ". ", " - "))
        return f"{opener} {_pick(rng, DOERS)} {_pick(rng, ACTIVITIES)}{sep}{verdict}"
    if r < 0.58:
        opener = _pick(rng, CLAUSE_OPENERS)
        if rng.random() < 0.7:
            subject = _thing(rng)
            pred = _pred(rng, label)
        else:
            subject = _pick(rng, PEOPLE)
            pred = _pick(rng, PERSON_PRED[label])
        sep = ", " if opener in ("Honestly", "Not gonna lie", "Real talk", "Guess what",
                                 "In other news", "Meanwhile", "Btw", "Imo", "Tbh",
                                 "Omg", "Oh and") and rng.random() < 0.6 else " "
        text = f"{opener}{sep}{subject} {pred}"
        if rng.random() < 0.3:
            text += " " + _pick(rng, TIMES)
        return text
    if r < 0.74:
        opener = _pick(rng, OBJECT_OPENER_LIST)
        kinds = OBJECT_OPENERS[opener]
        obj = _thing(rng, kinds)
        if label == POS and rng.random() < 0.3 and "food" in kinds:
            verdict = "and it was " + _pick(rng, FOOD_POS)
        elif label == NEG and rng.random() < 0.3 and "food" in kinds:
            verdict = "and it was " + _pick(rng, FOOD_NEG)
        elif label != NEU and rng.random() < 0.35:
            verdict = "and it was " + _adj(rng, label)
        else:
            verdict = _pick(rng, OBJECT_VERDICT[label])
        if rng.random() < 0.25:
            obj += " " + _pick(rng, PLACES)
        sep = " "
        if not verdict.startswith(CONNECTIVES):  # "worst one yet" needs a pause first
            sep = _pick(rng, (", ", ". ", " - ", "... "))
        return f"{opener} {obj}{sep}{verdict}"
    if r < 0.82:
        return f"{_pick(rng, PERSON_OPENERS)} {_pick(rng, PERSON_PRED[label])}"
    if r < 0.92:
        subject = _pick(rng, THING_OPENERS)
        return f"{subject} {_pred(rng, label)}"
    if r < 0.97:
        noun = _pick(rng, NEW_NOUNS)
        return f"{NEW_OPENER} {noun} {_pred(rng, label)}"
    return f"{GAME_OPENER} {_pick(rng, GAME_CONT[label])}"


def _intensify(rng: random.Random, phrase: str, label: int) -> str:
    # Only single sentiment words take an intensifier ("so tired", "really lovely").
    if label != NEU and " " not in phrase and rng.random() < 0.3:
        return _pick(rng, INTENS) + " " + phrase
    return phrase


def _second_clause(rng: random.Random, label: int) -> str:
    """An extra sentence with the same label, for variety and length."""
    r = rng.random()
    if r < 0.4:
        return f"{_pick(rng, ('And', 'Also', 'Plus', 'Oh and'))} {_thing(rng)} {_pred(rng, label)}"
    if r < 0.7:
        return f"{_pick(rng, PEOPLE).capitalize()} {_pick(rng, PERSON_PRED[label])}"
    feel = _pick(rng, FEEL[label])
    return f"{_pick(rng, ('Now I feel', 'Still', 'Now I am'))} {feel}"


def _typos(rng: random.Random, text: str) -> str:
    words = text.split(" ")
    for i, w in enumerate(words):
        if w in TYPO_WORDS and rng.random() < 0.4:
            words[i] = _pick(rng, TYPOS[w])
    return " ".join(words)


def _one_tweet(rng: random.Random, label: int) -> str:
    text = _core(rng, label)
    if label != NEU and rng.random() < 0.06:
        # Mixed feelings, softened by "kinda", so the label's clause still dominates.
        other = NEG if label == POS else POS
        text += f", even though {_thing(rng)} was kinda {_pick(rng, POS_ADJ if other == POS else NEG_ADJ)}"
    if rng.random() < 0.35:
        text += _pick(rng, (". ", "! ", "... ", ", ")) + _second_clause(rng, label)
    if rng.random() < 0.35:
        text += _pick(rng, (". ", " ", "... ", ", ")) + _pick(rng, TAILS[label])
    if rng.random() < 0.12:
        text += " " + _pick(rng, PLACES_TIMES)
    if len(text.split()) < 9:  # keep most tweets 10-25 words
        text += _pick(rng, (". ", ", ", " - ")) + _second_clause(rng, label)
    if rng.random() < 0.3:  # some people type carefully, some don't
        text = _typos(rng, text)
    style = rng.random()
    if style < 0.3:
        text = text.lower()
    text += _pick(rng, ("", ".", "!", "!!", "...", "!!!", "")) if label != NEU else _pick(rng, ("", ".", "", "?", "..."))
    if rng.random() < 0.15:
        text = _pick(rng, MENTIONS) + " " + text
    elif rng.random() < 0.08:
        text += " " + _pick(rng, ("cc", "with", "w/")) + " " + _pick(rng, MENTIONS)
    if rng.random() < 0.3:
        text += " " + " ".join(_pick(rng, EMOJI[label]) for _ in range(_pick(rng, (1, 1, 2))))
    if rng.random() < 0.25:
        tags = HASHTAGS[label] if rng.random() < 0.5 else HASHTAGS[NEU]
        text += " " + _pick(rng, tags)
    words = text.split()
    if len(words) < 6:
        words += _pick(rng, TAILS[label]).split()
    return " ".join(words[:40])


def generate_tweets(n: int = 60_000, seed: int = 0) -> list[Tweet]:
    """``n`` synthetic labelled tweets, deterministic in ``seed``.

    Labels cycle 0, 1, 2 so the raw generation is balanced; a few texts repeat
    (``split_tweets`` removes duplicates before splitting).
    """
    if not isinstance(n, int) or n <= 0:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    rng = random.Random(seed)
    return [Tweet(_one_tweet(rng, i % 3), i % 3) for i in range(n)]


# ---------------------------------------------------------------------------
# Splits
# ---------------------------------------------------------------------------

def _dedupe(tweets) -> list[Tweet]:
    """First occurrence of each text wins, order kept."""
    seen, out = set(), []
    for t in tweets:
        if t.text not in seen:
            seen.add(t.text)
            out.append(t)
    return out


def _check_frac(name: str, value: float) -> None:
    if not (0.0 <= value < 1.0):
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")


def split_tweets(tweets, val_frac: float = 0.05, test_frac: float = 0.05,
                 seed: int = 0) -> dict[str, list[Tweet]]:
    """Dedupe by text, shuffle with ``seed``, cut into train/val/test.

    Deduping first is what guarantees no text is shared across splits.
    """
    _check_frac("val_frac", val_frac)
    _check_frac("test_frac", test_frac)
    if val_frac + test_frac >= 1.0:
        raise ValueError(f"val_frac + test_frac must be < 1, got {val_frac + test_frac!r}")
    unique = _dedupe(tweets)
    random.Random(seed).shuffle(unique)
    n_val = int(round(len(unique) * val_frac))
    n_test = int(round(len(unique) * test_frac))
    return {
        "train": unique[n_val + n_test:],
        "val": unique[:n_val],
        "test": unique[n_val:n_val + n_test],
    }


# ---------------------------------------------------------------------------
# Hugging Face / local files in the mteb/tweet_sentiment_extraction schema
# ---------------------------------------------------------------------------

def _row_to_tweet(row: dict) -> Tweet | None:
    """One row (text, label and/or label_text) as a Tweet; None for empty text."""
    text = row.get("text")
    if text is None or not str(text).strip():
        return None  # the real train split has an empty row
    # Real tweets carry leading spaces and double spaces; one space keeps
    # prompt/completion splitting on words exact.
    text = " ".join(str(text).split())
    label = row.get("label")
    label_text = row.get("label_text")
    if label is None or label == "":
        if label_text not in LABELS:
            raise ValueError(f"row has no usable label: {row!r}")
        label = LABELS.index(label_text)
    label = int(label)
    if label not in (0, 1, 2):
        raise ValueError(f"label must be 0, 1 or 2, got {label!r} in {row!r}")
    if label_text not in (None, "") and label_text != LABELS[label]:
        raise ValueError(f"label {label} does not match label_text {label_text!r}")
    return Tweet(text, label)


def _rows_to_tweets(rows) -> list[Tweet]:
    return [t for t in map(_row_to_tweet, rows) if t is not None]


def _local_split_files(data_dir: str) -> dict[str, str]:
    """{'train': path, 'test': path} for train.(jsonl|json|csv), test.(...)."""
    files = {}
    for split in ("train", "test"):
        for ext in ("jsonl", "json", "csv"):
            path = os.path.join(data_dir, f"{split}.{ext}")
            if os.path.exists(path):
                files[split] = path
                break
        else:
            raise FileNotFoundError(
                f"no {split}.jsonl, {split}.json or {split}.csv in {data_dir!r}")
    return files


def _read_local_rows(path: str) -> list[dict]:
    """Pure-Python reader for jsonl (one object a line) and csv with a header."""
    with open(path, encoding="utf-8", newline="") as f:
        if path.endswith(".csv"):
            return list(csv.DictReader(f))
        return [json.loads(line) for line in f if line.strip()]


def _import_datasets():
    try:
        import datasets  # optional: only the "hf" source needs it
    except ImportError as e:
        raise ImportError(
            "loading mteb/tweet_sentiment_extraction needs the Hugging Face "
            "'datasets' package: pip install datasets  "
            "(or use source='synthetic', or data_dir= with local jsonl/csv files)"
        ) from e
    return datasets


def load_hf_tweets(name: str = "mteb/tweet_sentiment_extraction",
                   data_dir: str | None = None, use_datasets: bool | None = None,
                   ) -> dict[str, list[Tweet]]:
    """Train and test splits of the real tweet corpus (keys "train", "test").

    ``data_dir`` points at local ``train``/``test`` files in the same schema
    (``.jsonl``, ``.json`` or ``.csv``). They are read with
    ``datasets.load_dataset("json"/"csv", data_files=...)`` when ``datasets``
    is installed, else with a tiny pure-Python reader (``use_datasets`` forces
    one or the other). Without ``data_dir``, ``name`` is loaded from the Hub
    (or the local Hugging Face cache) and ``datasets`` is required.
    """
    if data_dir is None:
        datasets = _import_datasets()
        ds = datasets.load_dataset(name)
        return {split: _rows_to_tweets(ds[split]) for split in ("train", "test")}
    files = _local_split_files(data_dir)
    if use_datasets is None:
        try:
            import datasets  # noqa: F401
            use_datasets = True
        except ImportError:
            use_datasets = False
    if not use_datasets:
        return {split: _rows_to_tweets(_read_local_rows(p)) for split, p in files.items()}
    datasets = _import_datasets()
    out = {}
    for split, path in files.items():
        builder = "csv" if path.endswith(".csv") else "json"
        ds = datasets.load_dataset(builder, data_files={split: path}, split=split)
        out[split] = _rows_to_tweets(ds)
    return out


SOURCES = ("synthetic", "hf")


def load_tweets(source: str = "synthetic", n: int = 60_000, seed: int = 0,
                data_dir: str | None = None, val_frac: float = 0.05,
                test_frac: float = 0.05) -> dict[str, list[Tweet]]:
    """Train/val/test splits with no text shared across them.

    "synthetic": ``generate_tweets(n, seed)`` then ``split_tweets``.
    "hf": ``load_hf_tweets`` (Hub, cache, or ``data_dir``); the real test split
    is kept, val is carved from train, and texts repeated across splits are
    dropped from train/val. ``n`` is ignored for "hf".
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    if not isinstance(n, int) or n <= 0:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    _check_frac("val_frac", val_frac)
    _check_frac("test_frac", test_frac)
    if source == "synthetic":
        return split_tweets(generate_tweets(n, seed), val_frac, test_frac, seed)
    hf = load_hf_tweets(data_dir=data_dir)
    test = _dedupe(hf["test"])
    test_texts = {t.text for t in test}
    train = [t for t in _dedupe(hf["train"]) if t.text not in test_texts]
    carved = split_tweets(train, val_frac=val_frac, test_frac=0.0, seed=seed)
    return {"train": carved["train"], "val": carved["val"], "test": test}


# ---------------------------------------------------------------------------
# Prompts for SFT and RL
# ---------------------------------------------------------------------------

def prompt_completion_pairs(tweets, n_prompt_words=(2, 4),
                            seed: int = 0) -> list[tuple[str, str]]:
    """SFT pairs: (first k words, the rest with its leading space).

    k is drawn per tweet from ``n_prompt_words`` (inclusive) and capped so the
    completion keeps at least one word; ``prompt + completion == text``.
    Tweets of a single word give no pair.
    """
    lo, hi = n_prompt_words
    if not (1 <= lo <= hi):
        raise ValueError(f"n_prompt_words must be (lo, hi) with 1 <= lo <= hi, got {n_prompt_words!r}")
    rng = random.Random(seed)
    pairs = []
    for t in tweets:
        words = t.text.split(" ")
        k = min(rng.randint(lo, hi), len(words) - 1)
        if k < 1:
            continue
        pairs.append((" ".join(words[:k]), " " + " ".join(words[k:])))
    return pairs


def eval_prompts(n: int = 64, seed: int = 0) -> list[str]:
    """A fixed prompt set for RL evaluation: the story prompts, then openers.

    Openers carry no sentiment words, so any positivity in a completion comes
    from the model. Fixed for a given ``(n, seed)``, never resampled during
    training. ``n`` is at most ``len(OPENERS)``.
    """
    if not isinstance(n, int) or not 1 <= n <= len(OPENERS):
        raise ValueError(f"n must be an integer in [1, {len(OPENERS)}], got {n!r}")
    rest = [o for o in OPENERS if o not in RL_PROMPTS]
    random.Random(seed).shuffle(rest)
    return (list(RL_PROMPTS) + rest)[:n]


def corpus_stats(splits: dict[str, list[Tweet]], raw=None) -> dict:
    """Sizes, label counts per split, mean words per tweet.

    ``duplicate_rate`` (fraction of the raw generation that repeats an
    earlier text) needs the raw list, so pass ``raw=generate_tweets(...)``;
    it is None otherwise.
    """
    stats = {"sizes": {}, "label_counts": {}, "mean_words": {}}
    for name, tweets in splits.items():
        stats["sizes"][name] = len(tweets)
        stats["label_counts"][name] = {lab: sum(t.label == i for t in tweets)
                                       for i, lab in enumerate(LABELS)}
        stats["mean_words"][name] = (sum(len(t.text.split()) for t in tweets) / len(tweets)
                                     if tweets else 0.0)
    stats["total"] = sum(stats["sizes"].values())
    stats["duplicate_rate"] = None
    if raw is not None:
        raw = list(raw)
        stats["duplicate_rate"] = 1.0 - len({t.text for t in raw}) / len(raw) if raw else 0.0
    return stats
