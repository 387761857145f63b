"""The phrase banks the synthetic tweets are built from (``corpus.generate_tweets``).

Data, not logic: hand-written openers, topics, predicates, tails, emoji, hashtags and typos.
"""

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

# Held-out prompts: openers that no training tweet starts with and that neither start nor extend any
# RL training prompt, made only of words the training tweets use, each neutral to VADER (compound 0),
# so a policy is judged on prompts it never trained on (tests/test_sentiment_corpus.py checks all four).
HELDOUT_OPENERS = (
    "Back at my desk", "My little brother", "Our neighbour", "The cafe near my flat", "This evening",
    "Earlier this week", "After lunch", "Before class", "At the gym", "Our trip to the coast",
    "The concert last night", "My weekend", "Saw my old teacher", "The shop downtown", "Waiting for the bus",
    "First day at the new job", "My cousin", "The library", "Our old car", "Finally home", "This month",
    "The match on Sunday", "Lunch at work", "Sunday morning", "Working from home", "The game last night",
    "Moving day", "Our road trip", "The meeting at noon", "My first coffee", "The last episode", "My aunt",
    "Our teacher", "The museum", "Our new flat", "The bakery", "Next week",
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
