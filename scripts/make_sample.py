# ruff: noqa: RUF001 - the sample texts deliberately use typographic signs (times, dashes).
"""Generate the embedded HelpSteer2-style sample dataset for rm-pipeline.

The data is written for this project; it is not copied from NVIDIA HelpSteer2. Every prompt
comes either from hand-written material in this file or from a parametrised family whose
reference answer is computed here, so the top-tier answers are actually correct. Each prompt
gets 2-3 responses drawn from five quality tiers. The tier is the helpfulness label, and the
other four attributes follow from the kind of response (see ``KIND_SCORES``).

Outputs (deterministic: fixed seed, standard library only, no network):

* ``helpsteer2_sample.jsonl``: pointwise rows in the HelpSteer2 attribute schema.
* ``helpsteer2_preference_sample.jsonl``: pairs in the HelpSteer2-preference schema with
  ``preference_strength = sign(h2 - h1) * min(3, |h2 - h1|)``, h being helpfulness.

Regenerate with ``python scripts/make_sample.py`` from the repository root.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

SEED = 20250611
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT_DIR = REPO_ROOT / "data" / "sample"
POINTWISE_FILE = "helpsteer2_sample.jsonl"
PREFERENCE_FILE = "helpsteer2_preference_sample.jsonl"
ATTRIBUTES = ("helpfulness", "correctness", "coherence", "complexity", "verbosity")

# Every TIE_EVERY-th prompt gets two responses of the same tier, so some preference pairs tie.
TIE_EVERY = 25
TIE_COMBOS = ((0, 0, 4), (1, 1, 3), (0, 0, 3), (1, 1, 4))
# Share of 3-response prompts that contribute two preference pairs instead of one.
SECOND_PAIR_RATE = 0.75

KIND_TIER = {
    "good": 4,
    "thin": 3,
    "padded": 2,
    "partial": 2,
    "truncated": 2,
    "wrong": 1,
    "evasive": 1,
    "refusal": 0,
    "offtopic": 0,
    "gibberish": 0,
}
# (correctness, coherence) of each kind of response; complexity and verbosity are computed.
KIND_SCORES = {
    "good": (4, 4),
    "thin": (3, 4),
    "padded": (3, 3),
    "partial": (2, 3),
    "truncated": (2, 2),
    "wrong": (1, 3),
    "evasive": (1, 3),
    "refusal": (0, 3),
    "offtopic": (0, 2),
    "gibberish": (0, 0),
}
# Response length (characters) thresholds for verbosity 1, 2, 3 and 4.
VERBOSITY_STEPS = (60, 200, 500, 900)

REFUSALS = (
    "I'm sorry, but I can't help with that request.",
    "I cannot help with that. If you have another question, feel free to ask.",
    "As an AI language model, I'm not able to assist with this request. Please consult an "
    "appropriate professional or another resource.",
    "Sorry, I'm unable to provide an answer to this. It falls outside what I can help with.",
)
EVASIONS = (
    "That's a really interesting question, and the honest answer is that it depends on a lot "
    "of different factors. Different people will tell you different things, so it's best to "
    "look into it more and decide what works for your situation.",
    "There are many ways to think about this, and no single answer is right for everyone. I'd "
    "recommend doing some more research and maybe asking someone with experience before you "
    "make up your mind.",
    "Good question! It's hard to say for sure without more context. Everyone's circumstances "
    "are different, so you might want to check a few other sources and see what they say.",
    "This is one of those topics where opinions vary a lot. Some people say one thing and "
    "others say the opposite, so in the end it's really up to you to figure out what makes "
    "the most sense.",
)
PAD_OPENERS = (
    "Great question! This is something that a lot of people wonder about at some point, and "
    "it's definitely worth taking a moment to think it through carefully. There are many "
    "different aspects to consider here, and everyone's situation is a little bit different, "
    "so let's go through it.",
    "Thank you so much for asking this! Before getting into the answer, it's worth saying that "
    "this is a topic with a lot of depth, and there is always more that could be said about "
    "it. With that in mind, here is the short version.",
    "Absolutely, I'd be happy to help with this! It's a very common question, and people ask "
    "it for all sorts of reasons, whether out of simple curiosity or because they need the "
    "answer for something practical. Let's take a look.",
    "Sure! This is a great thing to be curious about. Many people have asked the same question "
    "over the years, and a lot has been written about it in books, articles and online "
    "forums. Here is what you need to know.",
)
PAD_MIDDLES = (
    "Of course, it is always important to keep in mind that details can matter, and there may "
    "be other factors worth considering depending on your exact circumstances. It's a good "
    "idea to think carefully about all of this.",
    "It's worth remembering that there is often more than one way to look at things like this, "
    "and learning more about the background can really deepen your understanding over time.",
    "As with many things, the more you learn about it, the more interesting it becomes, and "
    "there is always something new to discover if you keep exploring the topic.",
)
PAD_CLOSERS = (
    "I hope this helps! Remember to double-check anything important, and don't hesitate to "
    "reach out if you have any more questions. Good luck!",
    "Let me know if you'd like more information on this or anything else. I'm always happy to "
    "help, and there's plenty more we could talk about!",
    "In conclusion, this is a topic that is well worth understanding. Thanks again for the "
    "great question, and have a wonderful day!",
)

# Hand-written prompts. A record starts with "=== <family> <complexity>", sections start with
# "--- <name>", and a line ending in a backslash continues on the next line.
BASE_RECORDS = r"""
=== cooking 2
--- prompt
How long should I boil an egg if I want a jammy yolk?
--- good
For a jammy yolk (set white, thick but still soft centre), cook large eggs for about 6 to 7 \
minutes:

1. Bring a pot of water to a rolling boil.
2. Lower the eggs in gently with a spoon, straight from the fridge.
3. Keep the water at a steady simmer and set a timer for 6½ minutes.
4. Move the eggs into a bowl of ice water for at least 2 minutes to stop the cooking.
5. Peel them under cool running water.

Go closer to 6 minutes for a runnier centre and 7 minutes for a firmer one; medium eggs need \
about 30 seconds less.
--- thin
About 6 to 7 minutes in boiling water, then cool them in ice water so they stop cooking.
--- wrong
For a jammy yolk you need to boil the eggs for about 15 minutes. Anything shorter leaves the \
white raw, and the long cook is what gives the yolk its soft, jam-like texture.

=== cooking 2
--- prompt
What can I use instead of buttermilk in a pancake recipe?
--- good
You can make a quick substitute at home:

- **Milk + acid:** put 1 tablespoon of lemon juice or white vinegar in a measuring cup, top \
up with milk to 1 cup (240 ml), stir and let it sit for 5–10 minutes until slightly curdled.
- **Yogurt:** thin plain yogurt with a little milk (about 3/4 cup yogurt + 1/4 cup milk).
- **Kefir:** use it 1:1; it's already tangy and thick.

The acid matters because it reacts with the baking soda in the recipe to make the pancakes \
rise, so avoid replacing buttermilk with plain milk alone.
--- thin
Mix 1 tablespoon of lemon juice or vinegar into 1 cup of milk and let it stand for 5–10 \
minutes, then use it like buttermilk.
--- wrong
Just use the same amount of water with a spoonful of sugar. Buttermilk is only there for \
sweetness, so water and sugar will give you identical pancakes.

=== cooking 2
--- prompt
Why does my homemade bread come out dense and heavy?
--- good
Dense bread usually comes from one of a few causes:

1. **Under-proofing:** the dough didn't rise long enough. Let it roughly double in size in a \
warm spot.
2. **Old or dead yeast:** test it in warm water with a pinch of sugar; it should foam within \
10 minutes.
3. **Too much flour:** scooping packs the cup. Weigh the flour or spoon it into the cup.
4. **Not enough kneading:** gluten has to develop so the dough can hold gas; it should pass \
the windowpane test.
5. **Water too hot:** above about 60 °C (140 °F) it kills the yeast.

Fix the most likely cause first, usually proofing time, and change one thing per bake.
--- thin
Most often the dough was under-proofed or the yeast was old. Let it rise until roughly \
doubled and check that your yeast foams.
--- wrong
Bread turns out dense because it was baked at too low a temperature. Always bake bread at \
300 °C for 10 minutes and it will never be dense, whatever you do with the dough.

=== cooking 1
--- prompt
Give me a simple recipe for a vinaigrette.
--- good
Classic vinaigrette (makes about 1/2 cup):

- 6 tablespoons extra-virgin olive oil
- 2 tablespoons red wine vinegar (or lemon juice)
- 1 teaspoon Dijon mustard
- 1 small garlic clove, finely grated (optional)
- Salt and black pepper to taste

Whisk the vinegar, mustard, garlic and a pinch of salt together, then slowly whisk in the \
oil (or shake everything in a jar). The mustard helps it emulsify. Taste and adjust, adding \
a little honey if it's too sharp. It keeps in the fridge for about a week; shake before using.
--- thin
Whisk 3 parts olive oil with 1 part vinegar, a teaspoon of Dijon mustard, salt and pepper.
--- wrong
Mix equal parts vegetable oil and soy sauce, then boil it for 10 minutes until it thickens. \
A vinaigrette must always be served hot.

=== cooking 2
--- prompt
Is it safe to refreeze chicken that has already thawed?
--- good
It depends on how it was thawed:

- **Thawed in the fridge:** yes, raw chicken can be refrozen safely within 1–2 days, \
although the texture may get a bit drier.
- **Thawed in cold water or the microwave:** cook it first. Once cooked, it can be frozen.
- **Left at room temperature for more than 2 hours:** don't refreeze or eat it; bacteria \
may have multiplied.

Cooked chicken can be frozen once it has cooled, ideally within 2 hours of cooking.
--- thin
Yes, if it was thawed in the fridge and hasn't been out for more than a day or two. \
Otherwise cook it first.
--- wrong
No, refreezing chicken is never safe because freezing it twice makes the meat toxic. Once \
chicken has thawed you have to throw it away if you can't eat it that day.

=== cooking 1
--- prompt
How do I keep a cut avocado from turning brown?
--- good
Browning is oxidation, so the goal is to limit air contact:

1. Leave the pit in the unused half.
2. Brush the cut surface with lemon or lime juice; the acid slows the browning enzyme.
3. Wrap it tightly with plastic wrap pressed directly onto the flesh, or use an airtight \
container.
4. Refrigerate it and use it within a day.

If a thin layer does brown, scrape it off; the flesh underneath is fine.
--- thin
Brush it with lemon juice and wrap it tightly so no air reaches the surface, then \
refrigerate it.
--- wrong
Put the cut avocado in a bowl of warm water on the counter. The heat stops the browning, and \
it will stay green for about a week.

=== python 3
--- prompt
How do I reverse a list in Python?
--- good
There are three common ways:

```python
nums = [1, 2, 3, 4]

# 1. In place (modifies the list, returns None)
nums.reverse()

# 2. New reversed copy with slicing
rev = nums[::-1]

# 3. Iterator, handy in loops
for n in reversed(nums):
    print(n)
```

Use `reverse()` when you don't need the original order anymore, `[::-1]` when you want a new \
list, and `reversed()` when you just want to iterate backwards without copying.
--- thin
Use `my_list.reverse()` to reverse it in place, or `my_list[::-1]` to get a reversed copy.
--- wrong
Python lists can be reversed with `my_list.sort(reverse=True)`. This always gives you the \
list in reverse order, exactly the same as reading it backwards.

=== python 3
--- prompt
What's the difference between a list and a tuple in Python?
--- good
The main differences:

- **Mutability:** lists can be changed after creation (append, remove, assign items); \
tuples cannot.
- **Syntax:** lists use square brackets `[1, 2]`, tuples use parentheses `(1, 2)`; a \
one-item tuple needs a comma: `(1,)`.
- **Hashability:** a tuple of hashable items can be a dictionary key or a set element; a \
list can't.
- **Use:** lists suit collections that grow or shrink; tuples suit fixed records such as \
`(x, y)` coordinates or multiple return values.

Tuples are also slightly smaller and faster to create, but choose based on whether the data \
should change.
--- thin
Lists are mutable and use square brackets; tuples are immutable and use parentheses.
--- wrong
There is no real difference: lists and tuples are both mutable, and "tuple" is just the old \
Python 2 name for a list. You can append to either one.

=== python 3
--- prompt
Write a Python function that checks whether a string is a palindrome, ignoring case and \
spaces.
--- good
```python
def is_palindrome(text: str) -> bool:
    # Keep only non-space characters, lowercased.
    cleaned = "".join(ch.lower() for ch in text if not ch.isspace())
    return cleaned == cleaned[::-1]


print(is_palindrome("Never odd or even"))  # True
print(is_palindrome("Python"))             # False
```

It first builds a lowercase version of the text without whitespace, then compares it with \
its reverse. To ignore punctuation as well, filter with `ch.isalnum()` instead.
--- thin
```python
def is_palindrome(s):
    s = s.replace(" ", "").lower()
    return s == s[::-1]
```
--- wrong
```python
def is_palindrome(s):
    return s == s.reverse()
```

This works for any string, including ones with spaces and capital letters.

=== python 3
--- prompt
How do I read a CSV file in Python?
--- good
With the standard library `csv` module:

```python
import csv

with open("data.csv", newline="", encoding="utf-8") as f:
    reader = csv.DictReader(f)
    for row in reader:
        print(row["name"], row["age"])
```

`DictReader` uses the header row as keys. For analysis, pandas is more convenient:

```python
import pandas as pd

df = pd.read_csv("data.csv")
print(df.head())
```

Note that `csv` gives you strings, so convert numbers yourself, while pandas infers the \
column types.
--- thin
Use `pandas.read_csv("file.csv")`, or the built-in `csv` module with `csv.reader` inside a \
`with open(...)` block.
--- wrong
Python can't read CSV files directly. You need to open the file in Excel, save it as a .txt \
file, and then type the values in with `input()`.

=== python 3
--- prompt
What does `if __name__ == "__main__":` do in Python?
--- good
Every module has a `__name__` variable. When you run a file directly (`python script.py`), \
Python sets `__name__` to `"__main__"`; when the file is imported, `__name__` is the \
module's name instead.

So this block:

```python
if __name__ == "__main__":
    main()
```

runs `main()` only when the file is executed as a script, not when another module imports \
it. That lets you keep reusable functions in a file and still give it a command-line entry \
point, and it keeps imports free of side effects, which is useful for tests.
--- thin
It makes the code below it run only when the file is executed directly, not when it is \
imported.
--- wrong
It tells Python that this is the main file of the project, so Python loads it before any \
other file. Without it, the program won't start at all.

=== python 3
--- prompt
How can I remove duplicates from a list in Python while keeping the original order?
--- good
Use `dict.fromkeys`, since dictionaries keep insertion order (Python 3.7+):

```python
items = [3, 1, 3, 2, 1]
unique = list(dict.fromkeys(items))
print(unique)  # [3, 1, 2]
```

An explicit loop does the same and is easy to extend:

```python
seen = set()
unique = []
for x in items:
    if x not in seen:
        seen.add(x)
        unique.append(x)
```

Avoid `list(set(items))` here: it removes duplicates but does not preserve the order. Both \
approaches require the items to be hashable.
--- thin
`list(dict.fromkeys(my_list))` removes duplicates and keeps the order of first occurrence.
--- wrong
Use `list(set(my_list))`. Sets always keep items in the order you inserted them, so the \
result has the original order with the duplicates removed.

=== python 3
--- prompt
Explain what a Python list comprehension is, with an example.
--- good
A list comprehension builds a new list from an iterable in a single expression:

```python
[expression for item in iterable if condition]
```

Example: the squares of the even numbers from 0 to 9.

```python
squares = [n * n for n in range(10) if n % 2 == 0]
# [0, 4, 16, 36, 64]
```

This is equivalent to:

```python
squares = []
for n in range(10):
    if n % 2 == 0:
        squares.append(n * n)
```

Comprehensions are concise and usually a bit faster, but when the logic needs several \
conditions or nested loops, a regular loop is often easier to read.
--- thin
It's a compact way to build a list, e.g. `[x * 2 for x in nums]` doubles every number in \
`nums`.
--- wrong
A list comprehension is a function that checks whether a list is sorted; for example \
`comprehend([1, 2, 3])` returns True. It lives in the `itertools` module.

=== python 3
--- prompt
How do I handle a KeyError when reading from a Python dictionary?
--- good
A few options, depending on what you want when the key is missing:

```python
config = {"host": "localhost"}

# 1. Default value with .get()
port = config.get("port", 8080)

# 2. Check first
if "port" in config:
    port = config["port"]

# 3. Catch the exception
try:
    port = config["port"]
except KeyError:
    port = 8080
```

For counting or grouping, `collections.defaultdict` creates missing keys automatically. Use \
`.get()` for simple defaults, and let the KeyError propagate if a missing key really is a bug.
--- thin
Use `my_dict.get(key, default)` instead of `my_dict[key]`; it returns the default instead of \
raising.
--- wrong
A KeyError means your dictionary is corrupted. Delete it with `del my_dict` and create it \
again, and the error will go away.

=== sql 3
--- prompt
Write a SQL query that returns the 5 customers with the highest total order amount from a \
table orders(customer_id, amount).
--- good
```sql
SELECT customer_id,
       SUM(amount) AS total_amount
FROM orders
GROUP BY customer_id
ORDER BY total_amount DESC
LIMIT 5;
```

`GROUP BY` collapses the rows per customer, `SUM(amount)` totals their orders, and \
`ORDER BY ... DESC LIMIT 5` keeps the top five. On SQL Server use `SELECT TOP 5` instead of \
`LIMIT`. If ties matter, a window function such as `RANK() OVER (ORDER BY SUM(amount) DESC)` \
lets you include everyone tied for fifth place.
--- thin
```sql
SELECT customer_id, SUM(amount) AS total
FROM orders
GROUP BY customer_id
ORDER BY total DESC
LIMIT 5;
```
--- wrong
```sql
SELECT customer_id, amount
FROM orders
ORDER BY amount DESC
LIMIT 5;
```

This gives you the five customers with the highest total order amount.

=== sql 3
--- prompt
What is the difference between INNER JOIN and LEFT JOIN in SQL?
--- good
- **INNER JOIN** returns only rows that have a match in both tables.
- **LEFT JOIN** returns every row from the left table plus the matching rows from the right \
table; where there is no match, the right-hand columns are NULL.

Example with `customers` and `orders`:

```sql
-- Only customers who have placed orders
SELECT c.name, o.id FROM customers c
INNER JOIN orders o ON o.customer_id = c.id;

-- All customers, with a NULL order id for those without orders
SELECT c.name, o.id FROM customers c
LEFT JOIN orders o ON o.customer_id = c.id;
```

A common use of LEFT JOIN is finding rows without a match: add `WHERE o.id IS NULL`.
--- thin
INNER JOIN keeps only matching rows from both tables; LEFT JOIN keeps all rows from the left \
table and fills missing matches with NULL.
--- wrong
INNER JOIN and LEFT JOIN are the same; LEFT JOIN is just the older syntax. Both return all \
rows from both tables.

=== sql 2
--- prompt
How do I find duplicate email addresses in a SQL table called users?
--- good
Group by the email and keep the groups with more than one row:

```sql
SELECT email, COUNT(*) AS occurrences
FROM users
GROUP BY email
HAVING COUNT(*) > 1
ORDER BY occurrences DESC;
```

`HAVING` filters after grouping, which is why `WHERE COUNT(*) > 1` would not work. If \
addresses differ only by case or spaces, group by `LOWER(TRIM(email))` instead. To see the \
full duplicate rows, join this result back to `users` on the email.
--- thin
`SELECT email, COUNT(*) FROM users GROUP BY email HAVING COUNT(*) > 1;`
--- wrong
```sql
SELECT DISTINCT email FROM users;
```

This lists every email address that appears more than once in the table.

=== sql 3
--- prompt
What does an index do in a database, and when should I add one?
--- good
An index is a separate data structure (usually a B-tree) that stores column values in \
sorted order with pointers to the rows, so the database can find matching rows without \
scanning the whole table, much like the index at the back of a book.

Add one when:
- a column is often used in `WHERE`, `JOIN` or `ORDER BY` clauses,
- the table is large and those queries are slow,
- the column is selective (has many distinct values).

Trade-offs: indexes take disk space and slow down `INSERT`, `UPDATE` and `DELETE`, because \
the index has to be updated too. Check the query plan with `EXPLAIN` before and after adding \
one.
--- thin
An index lets the database find rows quickly without scanning the whole table. Add one on \
columns you often filter or join on.
--- wrong
An index is a backup copy of the table. You should add an index to every column so your data \
is safe if the table gets corrupted; it has no effect on query speed.

=== javascript 3
--- prompt
What is the difference between `==` and `===` in JavaScript?
--- good
`===` is strict equality: it is true only if both values have the same type and value. `==` \
is loose equality: it converts the operands to a common type first, which leads to \
surprising results:

```js
0 == "0";          // true  (string converted to number)
0 === "0";         // false (different types)
null == undefined;  // true
null === undefined; // false
"" == 0;           // true
```

Use `===` and `!==` by default; most style guides and linters enforce it. The one common \
exception is `x == null`, which checks for both `null` and `undefined`.
--- thin
`===` compares value and type without conversion; `==` converts types first. Prefer `===`.
--- wrong
`==` compares values and `===` compares memory addresses, so `"a" === "a"` is false because \
they are two different strings. Use `==` for everything except objects.

=== javascript 2
--- prompt
How do I add an item to the end of an array in JavaScript?
--- good
Use `push`, which modifies the array in place and returns the new length:

```js
const fruits = ["apple", "banana"];
fruits.push("cherry");
console.log(fruits); // ["apple", "banana", "cherry"]
```

If you need a new array without changing the original (for example in React state), use \
spread syntax:

```js
const more = [...fruits, "date"];
```

`push` also accepts several items at once: `fruits.push("fig", "grape")`.
--- thin
Call `array.push(item)`; it appends the item and returns the new length of the array.
--- wrong
Use `array.unshift(item)`. It appends the item to the end of the array and returns the \
updated array.

=== javascript 3
--- prompt
Explain what a Promise is in JavaScript.
--- good
A Promise is an object representing the eventual result of an asynchronous operation. It is \
in one of three states: **pending**, **fulfilled** (with a value) or **rejected** (with an \
error).

```js
fetch("/api/user")
  .then((res) => res.json())
  .then((user) => console.log(user.name))
  .catch((err) => console.error("Failed:", err));
```

With `async`/`await` the same code reads top to bottom:

```js
async function showUser() {
  try {
    const res = await fetch("/api/user");
    const user = await res.json();
    console.log(user.name);
  } catch (err) {
    console.error("Failed:", err);
  }
}
```

Promises replace deeply nested callbacks and make chaining and error handling simpler.
--- thin
A Promise represents a value that will be available later, from an asynchronous operation; \
you read it with `.then()` or `await`.
--- wrong
A Promise is a JavaScript feature that makes code run faster by running it on several CPU \
cores at once. Any function wrapped in a Promise is executed in parallel threads.

=== javascript 3
--- prompt
Why does `console.log(0.1 + 0.2)` print 0.30000000000000004 in JavaScript?
--- good
JavaScript numbers are IEEE 754 double-precision binary floating-point values. Decimals such \
as 0.1 and 0.2 have no exact binary representation (just as 1/3 has no exact decimal one), \
so each is stored as the nearest representable value. Adding those approximations gives a \
result slightly above 0.3, and JavaScript prints enough digits to tell it apart from the \
double closest to 0.3.

This is not a JavaScript bug; Python, Java and C behave the same way. Fixes:
- round for display: `(0.1 + 0.2).toFixed(2)` gives "0.30"
- compare with a tolerance: `Math.abs(a - b) < Number.EPSILON`
- for money, work in integer cents.
--- thin
Because numbers are stored in binary floating point, and 0.1 and 0.2 can't be represented \
exactly, so a tiny rounding error appears.
--- wrong
It's a known bug in the JavaScript engines of older browsers. Updating your browser to the \
latest version fixes it, and then 0.1 + 0.2 prints exactly 0.3.

=== history 2
--- prompt
Why did the Roman Republic become an empire?
--- good
There was no single cause; the Republic broke down over about a century:

1. **Expansion and inequality:** conquest brought wealth and slaves to the elite while small \
farmers lost their land, fuelling conflict such as the Gracchi reforms of the 130s–120s BC.
2. **Personal armies:** after Marius's reforms, soldiers depended on their generals for pay \
and land, so commanders like Sulla, Pompey and Caesar could use armies in politics.
3. **Civil wars:** Caesar crossed the Rubicon in 49 BC and became dictator; his \
assassination in 44 BC led to another round of civil war.
4. **Augustus:** Octavian defeated Antony and Cleopatra at Actium (31 BC) and in 27 BC \
received the name Augustus, keeping republican forms while holding real power. That is \
usually taken as the start of the Empire.
--- thin
Decades of civil wars between powerful generals with loyal armies ended the Republic, and \
Augustus became the first emperor in 27 BC.
--- wrong
The Republic became an empire in 476 AD, when Julius Caesar defeated the Gauls and declared \
himself emperor, after which the Senate was abolished.

=== history 2
--- prompt
When did World War I start and what triggered it?
--- good
World War I began in July–August 1914. The immediate trigger was the assassination of \
Archduke Franz Ferdinand, heir to the Austro-Hungarian throne, in Sarajevo on 28 June 1914 \
by Gavrilo Princip, a Bosnian Serb nationalist.

Austria-Hungary declared war on Serbia on 28 July 1914. Because of the alliance system the \
conflict spread within days: Russia mobilised to support Serbia, Germany declared war on \
Russia and France, and Britain entered on 4 August after Germany invaded Belgium.

Deeper causes included militarism, imperial rivalry, nationalism and the rigid alliances \
between the great powers.
--- thin
It started in 1914, triggered by the assassination of Archduke Franz Ferdinand in Sarajevo.
--- wrong
World War I started in 1939 when Germany invaded Poland. It was triggered by the sinking of \
the Titanic, which made Britain declare war on Germany.

=== history 2
--- prompt
Who was Ada Lovelace and why is she famous?
--- good
Ada Lovelace (1815–1852) was an English mathematician and the daughter of the poet Lord \
Byron. She worked with Charles Babbage on his proposed mechanical computer, the Analytical \
Engine.

In 1843 she translated an article about the engine and added extensive notes of her own. \
Note G describes a step-by-step method for computing Bernoulli numbers on the machine, often \
called the first published computer program. She also saw that such a machine could \
manipulate symbols, not just numbers, for example to compose music, an idea well ahead of \
its time.

The programming language Ada is named after her, and Ada Lovelace Day celebrates women in \
science and technology.
--- thin
She was a 19th-century mathematician who wrote what is often called the first computer \
program, for Babbage's Analytical Engine.
--- wrong
Ada Lovelace was an American engineer who built the first electronic computer, ENIAC, in \
1946 and went on to found IBM.

=== history 2
--- prompt
What was the significance of Gutenberg's printing press?
--- good
Johannes Gutenberg's movable-type printing press (around 1440–1450, in Mainz) made it \
possible to produce books far faster and more cheaply than copying by hand. Its significance:

- **Spread of knowledge:** books and pamphlets became affordable, and literacy grew.
- **Reformation:** Martin Luther's writings circulated widely after 1517, helping the \
Protestant Reformation spread.
- **Science:** scholars could share identical copies of texts and data, supporting the \
Scientific Revolution.
- **Standardisation:** printing helped fix spelling and grammar in vernacular languages.

The Gutenberg Bible (c. 1455) is its most famous early product.
--- thin
It made books cheap and fast to produce, which spread literacy and ideas across Europe and \
helped the Reformation.
--- wrong
Gutenberg's press mattered mainly because it was the first machine powered by electricity. \
It was invented in 1850 and used only for printing newspapers.

=== history 2
--- prompt
Briefly explain the causes of the French Revolution.
--- good
The French Revolution (1789) had several connected causes:

1. **Financial crisis:** war debts, including support for the American Revolution, left \
the monarchy close to bankruptcy.
2. **Unfair taxation:** the clergy and nobility were largely exempt, so the burden fell on \
the Third Estate.
3. **Food shortages:** the poor harvest of 1788 drove bread prices up and caused hunger and \
unrest.
4. **Enlightenment ideas:** thinkers such as Rousseau and Montesquieu challenged absolute \
monarchy and privilege.
5. **Political deadlock:** when the Estates-General met in 1789, the Third Estate broke away \
to form the National Assembly.

The storming of the Bastille on 14 July 1789 became the symbol of the revolution.
--- thin
France was nearly bankrupt, the tax burden fell on commoners, bread was expensive, and \
Enlightenment ideas questioned the king's absolute power.
--- wrong
The French Revolution was caused by Napoleon, who wanted to become king and overthrew \
Louis XIV in 1815 after losing the Battle of Waterloo.

=== history 2
--- prompt
What was the Silk Road?
--- good
The Silk Road was a network of overland and sea trade routes connecting China with Central \
Asia, the Middle East, Africa and Europe, active from about the 2nd century BC to the 15th \
century AD.

- **Goods:** silk, porcelain and paper travelled west; horses, glassware, wool and precious \
metals travelled east, along with spices and gems.
- **Ideas:** Buddhism, Islam and Christianity spread along it, as did technologies such as \
papermaking.
- **Disease:** it also carried the plague in the 14th century.

Few traders travelled the whole route; goods passed through many middlemen in cities such as \
Samarkand and Kashgar. The name was coined in the 19th century by the German geographer \
Ferdinand von Richthofen.
--- thin
It was an ancient network of trade routes linking China with Central Asia, the Middle East \
and Europe, used for goods like silk and for spreading ideas.
--- wrong
The Silk Road was a single paved highway built by the Roman Empire from Rome to Beijing in \
the 1700s, mainly used by tourists.

=== science 2
--- prompt
Why is the sky blue?
--- good
Sunlight contains all visible colours. As it passes through the atmosphere it hits nitrogen \
and oxygen molecules that are much smaller than the wavelength of light. These scatter short \
wavelengths far more strongly than long ones (Rayleigh scattering, roughly proportional to \
1/wavelength⁴), so blue light is scattered across the whole sky and reaches our eyes from \
every direction.

Violet is scattered even more, but sunlight contains less of it, some is absorbed high in \
the atmosphere, and our eyes are less sensitive to it, so we see blue. At sunrise and \
sunset light travels through much more air, most of the blue is scattered away, and the \
remaining reds and oranges dominate.
--- thin
Air molecules scatter short blue wavelengths of sunlight much more than red ones, so \
scattered blue light fills the sky.
--- wrong
The sky is blue because it reflects the colour of the oceans. Over deserts, far from the \
sea, the sky is actually white.

=== science 2
--- prompt
How do vaccines work?
--- good
Vaccines train the immune system to recognise a pathogen without causing the disease.

1. A vaccine delivers an antigen: a weakened or inactivated germ, a piece of it (such as a \
protein), or instructions for making that piece (mRNA and viral-vector vaccines).
2. The immune system responds by producing antibodies and activating T cells specific to \
that antigen.
3. Some of these cells become long-lived **memory cells**.
4. If you are later exposed to the real pathogen, the memory cells recognise it and mount a \
faster, stronger response, often stopping the infection or preventing severe illness.

Booster doses refresh this memory, and when enough people are immune, spread is reduced for \
everyone (herd immunity).
--- thin
They expose your immune system to a harmless piece or version of a germ so it builds memory \
cells and can fight the real germ quickly later.
--- wrong
Vaccines work by killing every bacterium and virus in your body for several years, like a \
long-lasting antibiotic, which is why you can't catch anything after being vaccinated.

=== science 1
--- prompt
What is the difference between weather and climate?
--- good
**Weather** is the state of the atmosphere at a particular place and time: today's \
temperature, rain, wind and humidity. It changes from hour to hour and day to day.

**Climate** is the long-term pattern of weather in a region, usually averaged over 30 years \
or more: typical temperatures, seasonal rainfall and how often extremes occur.

A simple way to remember it: weather is what you get, climate is what you expect. One cold \
week doesn't disprove a warming climate, just as one hot day doesn't prove it; climate \
trends show up in the long-term averages.
--- thin
Weather is the short-term conditions on a given day; climate is the average pattern of \
weather over decades.
--- wrong
Weather and climate mean the same thing. Scientists say "climate" when talking about \
temperature and "weather" when talking about rain.

=== science 3
--- prompt
How does photosynthesis produce oxygen?
--- good
In photosynthesis, plants use light energy to turn carbon dioxide and water into sugar:

6 CO₂ + 6 H₂O + light → C₆H₁₂O₆ + 6 O₂

The oxygen comes from the **water**, not from the CO₂. In the light-dependent reactions in \
the thylakoid membranes of the chloroplast, chlorophyll absorbs light and the \
oxygen-evolving complex of photosystem II splits water into electrons, protons (H⁺) and \
oxygen. The electrons drive the production of ATP and NADPH, and the O₂ is released as a \
by-product through the leaf's stomata. ATP and NADPH then power the Calvin cycle, which \
fixes CO₂ into sugar.
--- thin
During the light reactions, chlorophyll uses light energy to split water molecules, and the \
oxygen from the water is released as a by-product.
--- wrong
Plants produce oxygen by breaking apart carbon dioxide at night: the carbon is kept to build \
the plant and the two oxygen atoms from each CO₂ molecule are released into the air.

=== science 2
--- prompt
Why do we have seasons on Earth?
--- good
Seasons are caused by the tilt of Earth's axis, about 23.5° relative to its orbit, not by \
changes in distance from the Sun.

As Earth orbits, the hemisphere tilted towards the Sun gets sunlight at a steeper angle and \
for more hours each day, so it receives more energy: that's summer. Six months later the same \
hemisphere is tilted away, the sunlight is more slanted and the days are shorter: winter.

That is why the seasons are opposite in the two hemispheres. In fact, Earth is closest to \
the Sun in early January, during the northern winter.
--- thin
Because Earth's axis is tilted by about 23.5°, so each hemisphere gets more direct sunlight \
for part of the year and less for the other part.
--- wrong
We have seasons because Earth's orbit is very stretched: in summer Earth is much closer to \
the Sun and in winter much farther away, which is why it is summer everywhere on Earth at \
the same time.

=== science 3
--- prompt
What happens in the body when you get a fever?
--- good
A fever is a controlled rise in body temperature, usually in response to an infection.

1. Immune cells release signalling molecules (pyrogens such as interleukin-1), which lead \
to the production of prostaglandin E2.
2. These act on the hypothalamus, the brain's thermostat, and raise its set point.
3. The body now feels cold relative to the new set point, so you shiver, skin blood vessels \
narrow and you get chills until the temperature rises.
4. When the set point drops again, you sweat and feel warm as the body cools down.

The higher temperature can slow some microbes and speed up immune responses. For adults, a \
persistent temperature above about 39.4 °C (103 °F), or any fever with confusion, a stiff \
neck or trouble breathing, needs medical attention.
--- thin
Immune signals reset the brain's thermostat (the hypothalamus) higher, so the body shivers \
and conserves heat to raise its temperature, which helps fight infection.
--- wrong
A fever happens when germs heat up your blood directly by burning sugar, and the temperature \
keeps rising until the germs die. It has nothing to do with the brain.

=== science 2
--- prompt
Explain Newton's third law with an everyday example.
--- good
Newton's third law says that when one object exerts a force on a second object, the second \
exerts a force of equal size and opposite direction on the first. Forces always come in \
pairs, and the two forces act on different objects.

Everyday examples:
- **Walking:** your foot pushes backwards on the ground, and the ground pushes you forwards.
- **Swimming:** you push water backwards, and the water pushes you forwards.
- **Rockets:** the engine pushes exhaust gas down, and the gas pushes the rocket up.

The effects can look unequal because the masses differ: when you jump, you and Earth push \
on each other equally hard, but Earth's enormous mass makes its acceleration negligible.
--- thin
For every action there's an equal and opposite reaction: when you push on a wall, the wall \
pushes back on you with the same force.
--- wrong
Newton's third law says that an object at rest stays at rest unless a force acts on it, like \
a ball that keeps rolling forever on a perfectly smooth floor.

=== science 3
--- prompt
How do magnets work?
--- good
Magnetism comes from moving electric charges. In most materials the tiny magnetic fields of \
the electrons (from their spin and orbital motion) point in random directions and cancel \
out. In ferromagnetic materials such as iron, nickel and cobalt, neighbouring atoms line up \
in regions called **domains**. When most domains point the same way, the material is a \
magnet with a north and a south pole.

Opposite poles attract and like poles repel. A magnet attracts an unmagnetised piece of \
iron by temporarily aligning the iron's domains. Heating a magnet above its Curie \
temperature scrambles the domains and destroys the magnetism. Electric currents create \
magnetic fields too, which is how electromagnets and motors work.
--- thin
In materials like iron, the magnetic fields of electrons line up in domains; when most \
domains point the same way, the object becomes a magnet.
--- wrong
Magnets work because they contain a small amount of static electricity that pulls on metal. \
Rubbing a magnet with a cloth recharges it, and magnets attract all metals, including \
aluminium and gold.

=== travel 2
--- prompt
What should I pack for a 3-day hiking trip in the mountains in summer?
--- good
A practical checklist:

**Clothing (layers):** moisture-wicking base layers, a fleece or light down jacket, a \
waterproof rain jacket, hiking trousers or shorts, a hat and gloves (mountain nights get \
cold), and 2–3 pairs of wool socks.

**Gear:** broken-in hiking boots, a 40–50 L backpack, a tent or hut booking, a sleeping bag \
rated for near-freezing temperatures, a sleeping pad, and a headlamp with spare batteries.

**Food and water:** 2–3 L of water capacity plus a filter or tablets, easy high-calorie \
food, and a stove and fuel if you plan to cook.

**Safety:** a map and compass or offline GPS, a first-aid kit, sunscreen, sunglasses, a \
whistle and a charged phone. Tell someone your route and check the forecast before leaving.
--- thin
Bring layered clothes including a rain jacket, good boots, a sleeping bag, water and a \
filter, food, a map, a first-aid kit and sun protection.
--- wrong
For a summer mountain trip you only need shorts, a T-shirt and sandals, since it will be hot \
the whole time. Water is easy to find up there, so there's no need to carry any.

=== travel 2
--- prompt
What are some tips for dealing with jet lag?
--- good
Tips that help most people:

1. **Shift gradually:** a few days before, move your bedtime an hour later (flying west) or \
earlier (flying east).
2. **Use light:** after flying east, get outdoor daylight in the morning; after flying west, \
in the late afternoon or evening. Light is the strongest signal for your body clock.
3. **Switch to local time at once:** eat and sleep on the new schedule.
4. **Nap carefully:** keep naps under 30 minutes and before mid-afternoon.
5. **Stay hydrated** and limit alcohol and caffeine, especially later in the day.
6. **Melatonin:** a low dose at local bedtime can help after eastward flights; check with a \
doctor if you take other medication.

Expect roughly a day of adjustment per time zone crossed.
--- thin
Switch to local time right away, get daylight during the day, avoid long naps and stay \
hydrated.
--- wrong
The best way to beat jet lag is to stay awake for the first 48 hours after you arrive, \
drinking coffee regularly. After that your body clock resets automatically.

=== travel 2
--- prompt
Do I need a visa to visit another country as a tourist? How do I find out?
--- good
It depends on both your citizenship and the country you're visiting, so there's no single \
answer. To find out reliably:

1. Check the **official government website** of the destination country (its foreign \
ministry or immigration service) or its embassy or consulate in your country.
2. Check your own government's **travel advice page**, which usually lists entry \
requirements for each country.
3. Look for electronic travel authorisations: some visa-free trips still need an online \
permit, such as the ESTA for the United States or the eTA for Canada.
4. Confirm passport validity rules; many countries require 6 months of validity beyond \
your stay.

Apply early, since processing can take weeks, and be wary of unofficial sites that charge \
extra fees.
--- thin
It depends on your nationality and destination; check the destination's official embassy or \
immigration website.
--- wrong
No, tourists never need a visa anywhere in the world as long as they stay less than a year. \
A passport is all you need.

=== travel 2
--- prompt
How can I save money on flights?
--- good
Some reliable ways:

- **Be flexible with dates:** use the calendar or whole-month view on search sites; \
mid-week flights are often cheaper.
- **Compare airports:** nearby or secondary airports can be much cheaper.
- **Book at the right time:** for many domestic routes about 1–3 months ahead, for \
long-haul a few months ahead; last-minute fares are usually expensive.
- **Set price alerts** on tools like Google Flights or Skyscanner.
- **Check fees:** budget fares may exclude bags and seat selection, so compare the total.
- **Travel with carry-on only** when you can.
- **Use points or miles** from airline programmes or credit cards if you already have them.

Clearing cookies is a popular tip, but there's little evidence it changes prices.
--- thin
Be flexible with dates and airports, set price alerts, and compare total prices including \
baggage fees.
--- wrong
Always buy your ticket at the airport counter on the day of departure. Airlines sell their \
remaining seats for a fraction of the price just before take-off.

=== health 2
--- prompt
How much water should I drink per day?
--- good
There's no single number that fits everyone, but a common reference is a total fluid intake \
of about **2.7 litres a day for women and 3.7 litres for men** (US National Academies), \
including the roughly 20% that comes from food. For most adults that works out to around \
8–12 cups of drinks.

You need more in hot weather, when you exercise, if you're ill with fever or diarrhoea, or \
if you're pregnant or breastfeeding. Pale yellow urine and rarely feeling thirsty are good \
signs that you're getting enough. People with heart or kidney conditions should follow their \
doctor's advice, since they may need to limit fluids.
--- thin
Roughly 2–3 litres of fluids a day for most adults, more in hot weather or when exercising; \
pale yellow urine is a good sign.
--- wrong
You should drink at least 10 litres of water a day. The more water you drink the healthier \
you are, and it's impossible to drink too much.

=== health 2
--- prompt
I'm a complete beginner. How should I start running?
--- good
A gentle, consistent start prevents injury:

1. **Run-walk intervals:** for example 1 minute running, 2 minutes walking, repeated for \
20–30 minutes. Increase the running part gradually over several weeks (plans such as \
Couch to 5K follow this pattern).
2. **Three sessions a week,** with a rest day in between.
3. **Go slowly:** you should be able to talk in full sentences.
4. **Build up gradually,** by about 10% more time or distance per week at most.
5. **Shoes:** get comfortable running shoes that fit well.
6. **Warm up** with 5 minutes of brisk walking and cool down afterwards.

Some soreness is normal, but sharp or persistent pain is a sign to rest. If you have a heart \
condition or other health concerns, check with a doctor first.
--- thin
Start with run-walk intervals three times a week at an easy pace, and increase your running \
time slowly over several weeks.
--- wrong
Beginners should run as fast and as far as they can every day from the very start. Pain \
means your muscles are growing, so keep pushing through it.

=== health 2
--- prompt
What are the benefits of strength training?
--- good
Regular strength training has well-established benefits:

- **Muscle and strength:** it maintains muscle mass, which otherwise declines with age.
- **Bones:** loading the skeleton increases bone density and lowers the risk of \
osteoporosis.
- **Metabolic health:** it improves insulin sensitivity and blood sugar control.
- **Joints and posture:** stronger muscles support the joints and can reduce some back pain.
- **Everyday function:** carrying, climbing stairs and balance get easier, which reduces the \
risk of falls in older adults.
- **Mood and sleep:** it is associated with fewer symptoms of anxiety and depression.

Guidelines suggest working all major muscle groups at least two days a week, using body \
weight, resistance bands or weights.
--- thin
It builds muscle and bone density, improves metabolism and balance, and supports joint \
health. Aim for two sessions a week.
--- wrong
Strength training is only useful for bodybuilders. For everyone else it stiffens the \
muscles, reduces flexibility and slows the metabolism, so it's best to stick to cardio.

=== health 1
--- prompt
How many hours of sleep does an adult need?
--- good
Most adults aged 18–64 need **7 to 9 hours** of sleep a night; adults over 65 typically need \
7–8 hours. Regularly sleeping less than 7 hours is linked to poorer concentration and mood, \
weaker immunity, and a higher risk of weight gain, diabetes and heart disease.

Quality matters too. Helpful habits include a consistent sleep and wake time, a dark and cool \
bedroom, no caffeine after early afternoon, and no screens right before bed. If you sleep \
enough but still feel exhausted, or you snore loudly and stop breathing at night, talk to a \
doctor.
--- thin
Most adults need 7 to 9 hours of sleep a night, and a consistent schedule helps.
--- wrong
Adults need only 4 to 5 hours of sleep; anything more is oversleeping and makes you tired. \
Your body adapts to short sleep after a week or two.

=== health 2
--- prompt
Is stretching before exercise necessary?
--- good
Long static stretches (holding a position for 30 seconds or more) right before exercise \
aren't necessary for most people, can briefly reduce power and speed, and don't reliably \
prevent injury.

What helps more is a **dynamic warm-up** of 5–10 minutes: light cardio followed by movements \
that resemble your activity, such as leg swings, walking lunges, arm circles and high knees. \
This raises muscle temperature and prepares your joints.

Static stretching is still useful for improving flexibility; do it after training or as a \
separate session.
--- thin
Not static stretching; a 5–10 minute dynamic warm-up is more useful. Save long stretches for \
after exercise.
--- wrong
Yes, you must hold each stretch for at least five minutes before any exercise, otherwise you \
will almost certainly tear a muscle.

=== writing 1
--- prompt
Write a haiku about autumn leaves.
--- good
Crimson maples fall,
whispering on the cold wind—
bare branches let go.
--- thin
Leaves are falling down,
red and yellow all over the ground,
autumn is here.
--- wrong
The summer sun is shining bright,
the beach is warm from morning light,
we swim and play the whole day long
and sing a happy summer song.

=== writing 1
--- prompt
Write a haiku about the ocean.
--- good
Grey waves fold and break,
salt wind carries gull voices—
the tide slips back out.
--- thin
The ocean is so big and blue,
waves come and go,
I like the sea.
--- wrong
The mountain stands tall,
snow rests on its old shoulders,
clouds drift past the peak.

=== writing 1
--- prompt
Write a haiku about a city at night.
--- good
Neon signs flicker,
taxis hiss through the wet streets—
the city stays up.
--- thin
City lights are shining bright at night,
cars go by,
everyone is awake.
--- wrong
There once was a city so grand,
the finest by far in the land;
its towers were high,
they reached to the sky,
and its mayor had a very loud band.

=== writing 2
--- prompt
Write a short, polite email to my manager asking for next Friday off.
--- good
Subject: Request for a day off on Friday

Hi [Manager's name],

I'd like to request a day off next Friday, [date]. I'll make sure my current tasks are \
finished or handed over before then, and [colleague's name] has agreed to cover anything \
urgent while I'm out.

Please let me know if that works for you, or if there's anything you'd like me to arrange \
beforehand.

Thank you,
[Your name]
--- thin
Hi [Manager], could I take next Friday off? I'll make sure my work is covered. Thanks, [Name]
--- wrong
Subject: Friday

I won't be coming in next Friday. I've decided I need the day, so please sort out whatever \
needs sorting.

[Name]

=== writing 2
--- prompt
Write a two-sentence product description for a reusable stainless steel water bottle.
--- good
Keep drinks ice-cold for 24 hours or piping hot for 12 with this double-walled, \
vacuum-insulated stainless steel bottle. Leak-proof, BPA-free and built to last, it's the \
reusable companion that cuts down on single-use plastic wherever your day takes you.
--- thin
This stainless steel bottle keeps drinks cold or hot for hours. It's reusable and durable.
--- wrong
Our lightweight plastic bottle is perfect for single use and can be thrown away after your \
trip. It comes in a pack of 24 and is ideal for parties.

=== writing 1
--- prompt
Give me three creative names for a small bakery.
--- good
Here are three ideas:

1. **Rise & Shine Bakehouse:** a cheerful morning feel with a nod to rising dough.
2. **The Flour Pot:** playful, warm and easy to remember.
3. **Crumb & Co.:** short and modern, and it works well on signage and social media.

Before choosing, check that the name isn't already used locally and that the domain and \
social media handles are available.
--- thin
Rise & Shine Bakehouse, The Flour Pot, and Crumb & Co.
--- wrong
1. Joe's Auto Repair
2. QuickFix Garage
3. Brake Point Motors

=== writing 2
--- prompt
Can you help me write a short toast for my sister's wedding?
--- good
Here's a short toast you can adapt:

"Good evening, everyone. For those who don't know me, I'm [your name], [sister's name]'s \
sibling. I've had a front-row seat to her life, from bossing me around when we were kids to \
becoming the kindest, most determined person I know.

[Partner's name], the way she lights up when she talks about you tells me everything I need \
to know. You make each other better, and our family is lucky to have you.

Please raise your glasses: to [sister's name] and [partner's name], and a lifetime of love, \
laughter and adventure together. Cheers!"

Add one specific memory or inside joke to make it personal, and keep it under two minutes.
--- thin
"To my sister and her new partner: may your life together be full of love, laughter and \
adventure. Cheers!"
--- wrong
"Happy birthday! I hope this year brings you lots of success at work and that your new job \
is everything you wanted. Cheers to another year!"

=== summarization 2
--- prompt
Summarize this paragraph in one sentence:

The town council voted on Tuesday to convert the empty lot on Maple Street into a community \
garden. The project will be funded by a state grant of $40,000 and will include 30 raised \
beds, a tool shed and a rainwater collection system. Residents can apply for a bed starting \
in March, and priority will be given to households without a yard.
--- good
The town council approved a $40,000 state-funded plan to turn the empty Maple Street lot into \
a community garden with 30 raised beds, a tool shed and rainwater collection, with \
applications opening in March and priority for households without a yard.
--- thin
The council voted to turn the empty Maple Street lot into a community garden.
--- wrong
The town council voted to sell the Maple Street lot to a developer for $40,000 so that it can \
build 30 new homes starting in March.

=== summarization 2
--- prompt
Summarize the main point of this text:

Many people believe that goldfish have a memory span of only three seconds. However, \
experiments have shown that goldfish can remember things for months. In one study, fish \
were trained to push a lever to receive food, and they kept doing so even when the lever \
only worked for one hour each day, learning to press it at the right time.
--- good
The text argues that the popular three-second goldfish memory is a myth: experiments show \
goldfish can remember things for months, for example learning to push a lever for food and \
even timing it to the one hour a day when it worked.
--- thin
Goldfish actually have much longer memories than the three-second myth suggests.
--- wrong
The text explains that goldfish can only remember things for about three seconds, which is \
why they have to be fed every hour.

=== summarization 2
--- prompt
Summarize in two sentences:

Remote work grew rapidly after 2020. Supporters say it saves commuting time, widens the \
talent pool and can increase productivity for focused tasks. Critics point to weaker team \
cohesion, harder onboarding for junior staff and blurred boundaries between work and home \
life. Many companies have now settled on a hybrid model, with employees in the office two or \
three days a week.
--- good
Remote work expanded quickly after 2020, praised for saving commuting time, widening hiring \
and helping focused work, but criticised for weakening team cohesion, complicating \
onboarding for juniors and blurring work-life boundaries. As a compromise, many companies \
now use a hybrid model with two or three office days a week.
--- thin
Remote work grew after 2020 and has pros and cons. Many companies now use hybrid work.
--- wrong
Remote work was banned by most companies in 2020 because it reduced productivity. Employees \
now have to be in the office five days a week.

=== summarization 1
--- prompt
TL;DR this for me:

Our internet service will be unavailable on Saturday, 14 June, from 01:00 to 05:00 while we \
upgrade network equipment in your area. No action is needed on your part. If your \
connection has not returned by 06:00, please restart your router, and if the problem \
continues, contact our support line, which is open 24 hours a day.
--- good
Your internet will be down on Saturday, 14 June, from 01:00 to 05:00 for an equipment \
upgrade. You don't need to do anything; if it isn't back by 06:00, restart your router, and \
call the 24-hour support line if that doesn't fix it.
--- thin
There's a planned internet outage on 14 June from 1 to 5 am; restart your router if it's not \
back by 6.
--- wrong
Your internet contract ends on 14 June, and you must return your router to the store by \
05:00 or pay a fee.

=== summarization 1
--- prompt
Summarize this paragraph for a 10-year-old:

Bees are essential pollinators. As they move from flower to flower collecting nectar, pollen \
sticks to their bodies and is transferred to other flowers, allowing plants to produce fruit \
and seeds. About a third of the food crops humans eat depend at least partly on pollinators \
like bees, so declines in bee populations could affect food supplies.
--- good
When bees visit flowers to drink nectar, pollen sticks to them and gets carried to other \
flowers, which helps the plants make fruit and seeds. Lots of the food we eat needs bees to \
do this, so if there were fewer bees, we could end up with less food.
--- thin
Bees help flowers make fruit and seeds, and we need them for a lot of our food.
--- wrong
Bees make all the fruit in the world by building it inside their hives out of honey. Without \
bees there would be no more honey.

=== summarization 1
--- prompt
Give a one-line summary of this review:

I had high hopes for this blender, and it does make smooth smoothies. But it is incredibly \
loud, the lid leaked twice in the first week, and the jug is hard to clean because the \
blades can't be removed. For the price, I expected better build quality. I'm returning it.
--- good
The blender makes smooth smoothies, but it's very loud, the lid leaks, it's hard to clean and \
feels poorly built for the price, so the reviewer is returning it.
--- thin
The reviewer is disappointed with the blender and is returning it.
--- wrong
The reviewer loves the quiet, easy-to-clean blender and recommends it to everyone.

=== finance 2
--- prompt
What is an emergency fund and how big should it be?
--- good
An emergency fund is money set aside for unexpected expenses or a loss of income, such as \
car repairs, medical bills or losing your job, so you don't have to rely on credit cards or \
loans.

A common guideline is **3 to 6 months of essential expenses** (rent or mortgage, food, \
utilities, insurance, transport and minimum debt payments). Aim for the higher end if your \
income is irregular, you're self-employed, or you're the only earner in your household.

Keep it somewhere safe and easy to access, like a high-yield savings account, not in stocks. \
If 3 months feels far away, start with a smaller goal such as $1,000 and build from there.
--- thin
It's savings for unexpected costs or job loss; aim for 3 to 6 months of essential expenses in \
an easy-access savings account.
--- wrong
An emergency fund is a type of stock market investment that pays out when the market \
crashes. Put about 5% of one month's salary into it and invest it in high-risk shares.

=== finance 2
--- prompt
How does compound interest work? Give me a simple example.
--- good
Compound interest means you earn interest not only on your original deposit but also on the \
interest you've already earned.

Example: you invest $1,000 at 5% a year, compounded annually.
- After year 1: $1,000 × 1.05 = $1,050.00
- After year 2: $1,050 × 1.05 = $1,102.50
- After year 3: $1,102.50 × 1.05 = $1,157.63

With simple interest you'd have $1,150 after 3 years; compounding gives a bit more, and the \
gap grows over time. The general formula is A = P × (1 + r)ⁿ, so after 30 years the same \
$1,000 would grow to about $4,322. That's why starting early matters.
--- thin
You earn interest on your interest. For example, $1,000 at 5% a year becomes $1,050 after \
one year and $1,102.50 after two.
--- wrong
Compound interest means the bank charges you interest twice a year. For example, if you save \
$1,000 at 5%, you'd have $900 after one year.

=== finance 3
--- prompt
What's the difference between a Roth IRA and a traditional IRA?
--- good
Both are US individual retirement accounts; the key difference is **when you pay tax**:

- **Traditional IRA:** contributions may be tax-deductible now, investments grow \
tax-deferred, and withdrawals in retirement are taxed as ordinary income. Required minimum \
distributions start in your 70s.
- **Roth IRA:** contributions are made with after-tax money (no deduction now), but \
qualified withdrawals in retirement, including the growth, are tax-free. There are no \
required minimum distributions for the original owner, and eligibility to contribute phases \
out at higher incomes.

Rule of thumb: a Roth tends to be better if you expect a higher tax rate in retirement than \
now, a traditional IRA if you expect a lower one. The contribution limit is shared between \
the two and changes over time.
--- thin
Traditional IRA: tax deduction now, taxed when you withdraw. Roth IRA: no deduction now, \
tax-free withdrawals in retirement.
--- wrong
A Roth IRA is for people under 30 and a traditional IRA is for people over 30. Otherwise \
they are identical, and both let you withdraw money tax-free at any time.

=== finance 1
--- prompt
How do I make a simple monthly budget?
--- good
A simple approach in five steps:

1. **Find your monthly take-home income** (after tax).
2. **List your fixed expenses:** rent, utilities, insurance, loan payments, subscriptions.
3. **Track variable spending** for a month, such as groceries, transport and eating out, \
using bank statements or an app.
4. **Set targets.** A popular starting point is the 50/30/20 rule: 50% needs, 30% wants, 20% \
savings and extra debt payments.
5. **Review every month** and adjust the categories that keep going over.

Automate savings on payday so they happen before you spend, and keep a small buffer \
category for irregular costs like gifts or car maintenance.
--- thin
Write down your take-home pay, list fixed and variable expenses, and split the money using \
something like the 50/30/20 rule.
--- wrong
Spend whatever you want at the start of the month and see what's left at the end. Budgets \
never work, so there's no point writing anything down.

=== finance 2
--- prompt
Should I pay off my credit card debt or invest first?
--- good
In most cases, pay off high-interest credit card debt first. Cards often charge 20% APR or \
more, and paying a balance off is a guaranteed, tax-free "return" at that rate, much higher \
than the long-run average stock market return of roughly 7–10% a year, which isn't \
guaranteed.

A sensible order:
1. Build a small emergency fund (for example $1,000) so new surprises don't go on the card.
2. If your employer matches retirement contributions, contribute enough to get the full \
match; that's an immediate 50–100% return.
3. Put everything else toward the cards, highest interest rate first (the avalanche method).
4. Once they're paid off, redirect those payments into investing.
--- thin
Usually pay off the credit card first, because its interest rate (often 20% or more) is \
higher than what investments typically return.
--- wrong
Always invest first. The stock market returns at least 30% every year, so you'll easily earn \
more than your card charges, and credit card interest doesn't compound anyway.

=== math 2
--- prompt
What is the Pythagorean theorem and how do I use it?
--- good
In a right triangle, the square of the hypotenuse (the side opposite the right angle) equals \
the sum of the squares of the other two sides:

a² + b² = c²

Example: a ladder's foot is 3 m from a wall and it reaches 4 m up the wall. The ladder's \
length is c = √(3² + 4²) = √(9 + 16) = √25 = 5 m.

You can also rearrange it to find a missing leg: if c = 13 and a = 5, then \
b = √(169 − 25) = √144 = 12.

It only applies to right triangles; for other triangles use the law of cosines.
--- thin
In a right triangle, a² + b² = c², where c is the hypotenuse. For legs of 3 and 4, the \
hypotenuse is 5.
--- wrong
The Pythagorean theorem says a + b = c for any triangle, so a triangle with sides 3 and 4 has \
a third side of 7.

=== math 1
--- prompt
How do I calculate the average of a set of numbers?
--- good
To find the mean (average):

1. Add all the numbers together.
2. Divide the total by how many numbers there are.

Example with 4, 8, 6, 10 and 7:
- Sum = 4 + 8 + 6 + 10 + 7 = 35
- Count = 5
- Average = 35 ÷ 5 = 7

The mean can be pulled up or down by extreme values. If your data has outliers (like one \
very high salary), the median, the middle value once the numbers are sorted, is often a \
better summary.
--- thin
Add the numbers and divide by how many there are; for 4, 8, 6, 10 and 7 that's 35 ÷ 5 = 7.
--- wrong
To get the average, subtract the smallest number from the largest one. For 4, 8, 6, 10 and \
7, the average is 10 − 4 = 6.

=== everyday 2
--- prompt
How do I change a flat tyre on a car?
--- good
Step by step:

1. **Get safe:** pull over on flat, solid ground away from traffic, turn on the hazard \
lights and apply the parking brake.
2. **Get the tools:** spare tyre, jack and wheel wrench (usually under the boot floor).
3. **Loosen the nuts** about half a turn each while the wheel is still on the ground.
4. **Jack up the car** at the jacking point shown in the owner's manual until the tyre is \
off the ground.
5. **Remove the nuts and the wheel,** then fit the spare.
6. **Hand-tighten the nuts,** lower the car, then tighten them fully in a star pattern.
7. **Check the spare's pressure**; if it's a compact space-saver, stay under its speed limit \
(often 50 mph / 80 km/h) and get the tyre repaired soon.

Never put any part of your body under a car that is held up only by a jack.
--- thin
Loosen the wheel nuts, jack up the car, swap the wheel for the spare, then tighten the nuts \
in a star pattern after lowering it.
--- wrong
First jack the car all the way up, then loosen the wheel nuts while the wheel spins freely. \
You don't need the parking brake, and you can drive on the spare at any speed for as long as \
you like.

=== everyday 2
--- prompt
What's a good way to learn a new language as an adult?
--- good
What tends to work:

1. **Daily practice, even 15–20 minutes,** beats occasional long sessions.
2. **Learn high-frequency words first:** the most common ~1,000 words cover a large share of \
everyday speech. Spaced-repetition flashcards (e.g. Anki) help you remember them.
3. **Get lots of input:** podcasts, videos and graded readers at a level you mostly \
understand.
4. **Speak early:** find a tutor or a language-exchange partner and accept making mistakes.
5. **Learn grammar in context** rather than memorising tables in isolation.
6. **Set concrete goals,** such as ordering food or holding a 10-minute conversation by a \
certain date.

Adults often learn vocabulary and grammar faster than children; accent is harder, but \
consistency matters far more than age.
--- thin
Practise a little every day, use flashcards for common words, listen to lots of content and \
start speaking with a tutor or partner early.
--- wrong
Adults can't really learn new languages after the age of 18 because the brain stops being \
able to. The only option is to move abroad and stop speaking your own language for years.

=== everyday 1
--- prompt
How do I get rid of fruit flies in my kitchen?
--- good
1. **Remove the source:** throw out or refrigerate overripe fruit, empty the bin, rinse \
recycling and clean up sticky spills.
2. **Check the drains:** pour boiling water down them or scrub them, since flies can breed \
in the gunk.
3. **Set a trap:** fill a small jar with apple cider vinegar and a drop of dish soap (the \
soap breaks the surface tension so they sink), and cover it with plastic wrap poked with \
small holes.
4. **Keep it up for a week or two:** their life cycle is short, so cleaning while you trap \
the adults clears them out.

Keep fruit in the fridge until they're gone.
--- thin
Get rid of overripe fruit, clean drains and bins, and set a trap with apple cider vinegar and \
a drop of dish soap.
--- wrong
Fruit flies are born inside the fruit, so they can't be stopped. Spraying the whole kitchen \
with bleach every day is the only thing that kills them.

=== language 2
--- prompt
What's the difference between "affect" and "effect"?
--- good
In most cases:

- **Affect** is a **verb** meaning to influence: *The weather affected our plans.*
- **Effect** is a **noun** meaning a result: *The weather had an effect on our plans.*

Memory trick: **A**ffect is an **A**ction; **E**ffect is the **E**nd result.

There are less common uses too: *effect* as a verb means to bring about (*to effect \
change*), and *affect* as a noun is a psychology term for displayed emotion (*a flat \
affect*).
--- thin
"Affect" is usually a verb (to influence); "effect" is usually a noun (the result).
--- wrong
"Effect" is the verb and "affect" is the noun, so you would write "The rain effected the \
game" and "The rain had a big affect."
"""

# Glossary terms: sections are the definition, an example and a confident misconception.
TERM_RECORDS = r"""
=== inflation
--- definition
Inflation is the general rise in prices across an economy over time, which means each unit \
of money buys less than before. It is usually measured as the yearly percentage change in a \
consumer price index.
--- example
If inflation is 3% a year, a basket of groceries that costs $100 today will cost about $103 \
next year.
--- wrong
Inflation is when the government prints a new currency to replace the old one. It makes \
prices go down, because there is more money around.

=== opportunity cost
--- definition
Opportunity cost is the value of the best alternative you give up when you make a choice. \
Every decision involving limited time or money has one, even when no cash changes hands.
--- example
If you spend Saturday working a shift that pays $120 instead of going to a concert, the \
opportunity cost of working is the concert, and the opportunity cost of the concert is the \
$120 you didn't earn.
--- wrong
Opportunity cost is the price printed on the label of something you buy; it only applies when \
you actually spend money.

=== recursion
--- definition
Recursion is when a function solves a problem by calling itself on a smaller version of the \
same problem until it reaches a simple base case it can answer directly. Without a base \
case, the calls never stop.
--- example
factorial(n) can be defined as n × factorial(n − 1) with factorial(0) = 1 as the base case, \
so factorial(3) = 3 × 2 × 1 × 1 = 6.
--- wrong
Recursion is when a program runs the same loop twice to double-check the result. It is \
mainly used to make code run faster.

=== an API
--- definition
An API (application programming interface) is a defined set of rules that lets one piece of \
software request data or actions from another without knowing how the other is built \
internally.
--- example
A weather app sends a request such as GET /forecast?city=Paris to a weather service's API and \
receives the forecast back as JSON, which it then displays.
--- wrong
An API is a type of computer virus that spreads between apps. Antivirus software is what you \
use to remove APIs from your phone.

=== osmosis
--- definition
Osmosis is the movement of water across a semi-permeable membrane from a region of lower \
solute concentration to a region of higher solute concentration, until the concentrations \
even out.
--- example
A raisin left in water swells as water moves into it by osmosis, while a cucumber slice in \
salty water loses water and goes limp.
--- wrong
Osmosis is the process in which salt moves through a membrane from a salty area into fresh \
water. The water itself never moves.

=== machine learning
--- definition
Machine learning is a branch of artificial intelligence in which computers learn patterns \
from data instead of following explicit step-by-step rules. A model is trained on examples \
and then used to make predictions on new data.
--- example
A spam filter is trained on thousands of emails labelled "spam" or "not spam", learns which \
words and patterns predict spam, and then classifies new emails.
--- wrong
Machine learning means a computer that has become conscious and can think for itself like a \
human brain. It doesn't need any data to do this.

=== GDP
--- definition
Gross domestic product (GDP) is the total market value of all final goods and services \
produced within a country in a given period, usually a year or a quarter. It is the most \
common measure of the size of an economy.
--- example
If a country's GDP grows from $2.0 trillion to $2.1 trillion in a year, its economy grew by \
5% in nominal terms; adjusting for inflation gives the real growth rate.
--- wrong
GDP is the total amount of money a government has saved in its bank account. A high GDP \
means the government has no debt.

=== the placebo effect
--- definition
The placebo effect is a real improvement in symptoms that happens because a person expects a \
treatment to work, even though the treatment itself has no active ingredient.
--- example
In clinical trials some patients given sugar pills report less pain, which is why new drugs \
are compared against a placebo group.
--- wrong
The placebo effect is when a medicine stops working because you have taken it too many \
times.

=== a black hole
--- definition
A black hole is a region of space where matter is packed so densely that nothing, not even \
light, can escape once it crosses the boundary called the event horizon. Many form when \
massive stars collapse at the end of their lives.
--- example
The first image of a black hole, released in 2019, showed the glowing ring of hot gas around \
the supermassive black hole at the centre of the galaxy M87.
--- wrong
A black hole is an empty hole in space that sucks in everything in the universe like a \
vacuum cleaner, and it will eventually swallow Earth.

=== DNS
--- definition
DNS (the Domain Name System) is the internet's phone book: it translates human-friendly \
domain names like example.com into the numeric IP addresses computers use to find each \
other.
--- example
When you type a site's name into a browser, your computer asks a DNS resolver for its IP \
address, gets back something like 203.0.113.10, and then connects to that server.
--- wrong
DNS is the company that owns all the websites on the internet, and it charges you a small fee \
each time you visit a page.

=== mitosis
--- definition
Mitosis is the type of cell division that produces two genetically identical daughter cells, \
each with the same number of chromosomes as the parent cell. It is how the body grows and \
replaces cells.
--- example
When you scrape your knee, skin cells near the wound divide by mitosis to replace the damaged \
tissue.
--- wrong
Mitosis is the cell division that produces sperm and egg cells, halving the number of \
chromosomes in each new cell.

=== supply and demand
--- definition
Supply and demand is the economic model of how prices are set in a market: when demand for a \
good rises relative to its supply, its price tends to go up, and when supply rises relative \
to demand, the price tends to fall.
--- example
After a poor harvest fewer avocados are available while people still want them, so avocado \
prices rise.
--- wrong
Supply and demand means that shops must always supply whatever customers demand at a fixed \
price set by the government.

=== version control
--- definition
Version control is a system that records changes to files over time, so you can see who \
changed what, go back to earlier versions, and let several people work on the same project \
safely. Git is the most widely used version control tool.
--- example
A developer notices a bug, uses git log to find the commit that introduced it, and git revert \
to undo that change.
--- wrong
Version control is when an app forces you to update to its latest version before you can use \
it again.

=== the greenhouse effect
--- definition
The greenhouse effect is the warming of a planet's surface because gases in its atmosphere, \
such as carbon dioxide, methane and water vapour, absorb heat radiated by the surface and \
send part of it back down.
--- example
Without any greenhouse effect, Earth's average surface temperature would be about −18 °C \
instead of about 15 °C; adding more CO₂ strengthens the effect and warms the planet further.
--- wrong
The greenhouse effect is caused by the hole in the ozone layer letting in extra sunlight; it \
has nothing to do with carbon dioxide.

=== diversification
--- definition
Diversification means spreading your money across many different investments so that a loss \
in any one of them has only a small effect on your overall portfolio.
--- example
Instead of putting $10,000 into a single company's shares, you could buy a broad index fund \
holding hundreds of companies, so one bankruptcy barely affects you.
--- wrong
Diversification means putting all of your money into the single investment that has grown the \
most recently, to maximise your returns.

=== a metaphor
--- definition
A metaphor is a figure of speech that describes something by saying it is something else, to \
highlight a similarity, without using "like" or "as".
--- example
"Time is a thief" is a metaphor; "time is like a thief" would be a simile.
--- wrong
A metaphor is a comparison that always uses the words "like" or "as", such as "as brave as a \
lion".

=== entropy
--- definition
Entropy is a measure of how many ways the particles of a system can be arranged while looking \
the same overall; informally, how spread out or disordered energy is. The second law of \
thermodynamics says the total entropy of an isolated system tends to increase.
--- example
An ice cube melting in a warm room increases entropy: the heat spreads out, and liquid water \
molecules have far more possible arrangements than the ordered crystal.
--- wrong
Entropy is the amount of energy destroyed every time a machine runs; eventually all the energy \
in the universe will be deleted.

=== a cache
--- definition
A cache is a small, fast storage layer that keeps copies of frequently or recently used data, \
so later requests for that data can be served faster than fetching it again from the \
original, slower source.
--- example
Your browser caches images and scripts from sites you visit, so those pages load faster the \
next time.
--- wrong
A cache is a folder of viruses that your computer collects over time, and you should never \
let it store anything.

=== carbohydrates
--- definition
Carbohydrates are one of the three main macronutrients, along with protein and fat. They \
include sugars, starches and fibre, and the body breaks most of them down into glucose, its \
main source of energy.
--- example
Bread, rice, fruit, beans and potatoes are rich in carbohydrates; whole grains and beans also \
provide fibre, which slows digestion.
--- wrong
Carbohydrates are a type of fat found only in sweets, and the body can't use them for energy \
at all.

=== plate tectonics
--- definition
Plate tectonics is the theory that Earth's outer shell is broken into large rigid plates that \
slowly move over the hotter, softer mantle beneath them, at a few centimetres per year.
--- example
Where the Indian plate pushes into the Eurasian plate, the crust has been crumpled upward to \
form the Himalayas; earthquakes and volcanoes cluster along plate boundaries.
--- wrong
Plate tectonics says the continents have always been in exactly the same place, and that \
earthquakes are caused by the weather.

=== a firewall
--- definition
A firewall is a security system that monitors network traffic and allows or blocks it \
according to a set of rules, acting as a barrier between a trusted network and untrusted ones \
such as the internet.
--- example
A home router's firewall blocks unsolicited incoming connections from the internet while \
still letting your laptop load the web pages you request.
--- wrong
A firewall is a fire-proof wall built around server rooms to protect the computers if the \
building catches fire.

=== the median
--- definition
The median is the middle value of a data set once the values are sorted. If there is an even \
number of values, it is the average of the two middle ones.
--- example
For 3, 7, 9, 15 and 100 the median is 9, while the mean is 26.8, which shows how the median \
resists outliers.
--- wrong
The median is the value that appears most often in a data set, so for 3, 3, 7 and 9 the \
median is 3.

=== biodiversity
--- definition
Biodiversity is the variety of life in a particular place or on Earth as a whole, including \
the diversity of species, the genetic variation within species and the range of ecosystems.
--- example
A coral reef with thousands of species of fish, coral and invertebrates has high \
biodiversity, while a field planted with a single crop has low biodiversity.
--- wrong
Biodiversity means the number of animals kept in a zoo.

=== a blockchain
--- definition
A blockchain is a shared digital ledger made of blocks of records, each linked to the previous \
one by a cryptographic hash, so changing an old record would break every link after it. \
Copies are kept by many computers, which agree on new entries without a central authority.
--- example
Bitcoin records every transaction on a blockchain; anyone can verify the history, and \
rewriting it would mean redoing the work for all later blocks.
--- wrong
A blockchain is a physical chain used to lock up computer servers so that hackers can't steal \
them.
"""

TERM_TEMPLATES = (
    "Explain {term} in simple terms.",
    'What does "{bare}" mean? Please include an example.',
    "Can you define {bare} and give me a real-world example?",
    "I keep hearing about {term}. What is it?",
    "Explain like I'm five: what is {term}?",
)


class FalseFriend(NamedTuple):
    """A foreign word that looks like an English word with a different meaning."""

    word: str
    language: str
    meaning: str
    example: str
    example_en: str
    note: str
    wrong: str


FALSE_FRIENDS = (
    FalseFriend("embarazada", "Spanish", "pregnant", "Mi hermana está embarazada de seis meses.",
                "My sister is six months pregnant.",
                'It does not mean "embarrassed", which is *avergonzado* or *tener vergüenza*.',
                "embarrassed"),
    FalseFriend("biblioteca", "Spanish", "library", "Voy a la biblioteca a estudiar.",
                "I'm going to the library to study.",
                "Don't confuse it with *librería*, which means bookshop.", "bookstore"),
    FalseFriend("librairie", "French", "bookshop",
                "J'ai acheté ce roman dans une petite librairie.",
                "I bought this novel in a small bookshop.",
                "A library is *une bibliothèque* in French.", "library"),
    FalseFriend("actuellement", "French", "currently", "Il travaille actuellement à Lyon.",
                "He is currently working in Lyon.",
                'It does not mean "actually"; for that, French uses *en fait*.', "actually"),
    FalseFriend("Gift", "German", "poison", "Diese Pilze enthalten ein starkes Gift.",
                "These mushrooms contain a strong poison.",
                "A present is *ein Geschenk* in German.", "a gift or present"),
    FalseFriend("bekommen", "German", "to get or to receive",
                "Ich habe heute einen Brief bekommen.", "I received a letter today.",
                'It does not mean "to become", which is *werden*.', "to become"),
    FalseFriend("camera", "Italian", "room or bedroom", "La mia camera è al secondo piano.",
                "My bedroom is on the second floor.",
                "A camera is *una macchina fotografica* in Italian.", "a camera"),
    FalseFriend("éxito", "Spanish", "success", "La fiesta fue un gran éxito.",
                "The party was a great success.",
                "An exit is *una salida* in Spanish.", "exit"),
    FalseFriend("sensible", "French", "sensitive", "Elle a la peau sensible.",
                "She has sensitive skin.",
                'For "sensible" in the English sense, French says *raisonnable* or *sensé*.',
                "sensible, as in reasonable"),
    FalseFriend("puxar", "Portuguese", "to pull", "Para abrir a porta, é preciso puxar.",
                "To open the door, you need to pull.",
                'It looks like "push", but "to push" is *empurrar*.', "to push"),
    FalseFriend("constipado", "Spanish", "having a cold",
                "Estoy constipado y no puedo oler nada.",
                "I have a cold and can't smell anything.",
                'It does not mean "constipated", which is *estreñido*.', "constipated"),
    FalseFriend("Handy", "German", "mobile phone", "Ich habe mein Handy zu Hause vergessen.",
                "I left my mobile phone at home.",
                'It is a noun; the adjective "handy" (useful) would be *praktisch*.',
                "handy, as in useful"),
    FalseFriend("fattoria", "Italian", "farm", "I miei nonni vivono in una fattoria.",
                "My grandparents live on a farm.",
                "A factory is *una fabbrica* in Italian.", "factory"),
    FalseFriend("coin", "French", "corner", "Il y a une boulangerie au coin de la rue.",
                "There's a bakery on the corner of the street.",
                "A coin is *une pièce de monnaie* in French.", "a coin"),
    FalseFriend("carpeta", "Spanish", "folder", "Guarda los documentos en la carpeta azul.",
                "Keep the documents in the blue folder.",
                "A carpet is *una alfombra* in Spanish.", "carpet"),
    FalseFriend("slim", "Dutch", "clever or smart", "Zij is heel slim.", "She is very clever.",
                'For "slim" in the English sense, Dutch says *slank*.', "slim, as in thin"),
)
TRANSLATION_TEMPLATES = (
    'What does the {language} word "{word}" mean in English?',
    'How do I translate "{word}" from {language} into English? An example sentence would help.',
    'Quick {language} question: what is the English meaning of "{word}"?',
)


class Capital(NamedTuple):
    """A country whose capital is often confused with its best-known city."""

    country: str
    city: str
    wrong: str
    fact: str


CAPITALS = (
    Capital("Australia", "Canberra", "Sydney",
            "It was purpose-built as a compromise between rivals Sydney and Melbourne, and "
            "Parliament moved there in 1927."),
    Capital("Canada", "Ottawa", "Toronto",
            "Queen Victoria chose it in 1857, partly as a compromise between English- and "
            "French-speaking regions; Toronto is the largest city."),
    Capital("Brazil", "Brasília", "Rio de Janeiro",
            "The city was built in the late 1950s and inaugurated in 1960, replacing Rio de "
            "Janeiro as the capital."),
    Capital("Turkey", "Ankara", "Istanbul",
            "It became the capital in 1923, when the Republic of Turkey was founded; Istanbul "
            "is the largest city."),
    Capital("Switzerland", "Bern", "Zurich",
            'Officially it is the "federal city", the seat of the Swiss government; Zurich is '
            "the largest city."),
    Capital("New Zealand", "Wellington", "Auckland",
            "It has been the capital since 1865; Auckland is the largest city."),
    Capital("Nigeria", "Abuja", "Lagos",
            "It officially replaced Lagos as the capital in 1991."),
    Capital("Morocco", "Rabat", "Casablanca",
            "Rabat is the political capital, while Casablanca is the largest city and the main "
            "economic hub."),
    Capital("Vietnam", "Hanoi", "Ho Chi Minh City",
            "It lies in the north; Ho Chi Minh City (formerly Saigon) in the south is the "
            "largest city."),
    Capital("Kazakhstan", "Astana", "Almaty",
            "The capital moved there from Almaty in 1997; the city was called Nur-Sultan from "
            "2019 to 2022."),
    Capital("Myanmar", "Naypyidaw", "Yangon",
            "The government moved from Yangon to the purpose-built city in 2005–2006."),
    Capital("Tanzania", "Dodoma", "Dar es Salaam",
            "It is the official capital, although some government offices and most embassies "
            "are still in Dar es Salaam, the largest city."),
)
CAPITAL_TEMPLATES = (
    "What is the capital of {country}?",
    "Which city is the capital of {country}?",
    "Quick geography question: what's the capital city of {country}?",
)


class GrammarFix(NamedTuple):
    """A sentence with grammar mistakes, its correction and why."""

    sentence: str
    fixed: str
    why: str


GRAMMAR_FIXES = (
    GrammarFix("Their going to the park tomorrow, and there dog is coming to.",
               "They're going to the park tomorrow, and their dog is coming too.",
               '"They\'re" means "they are", "their" shows possession, and "too" means '
               '"also".'),
    GrammarFix("Me and him went to the store yesterday.",
               "He and I went to the store yesterday.",
               "The subject of a sentence takes subject pronouns (I, he), and it's "
               "conventional to put yourself last."),
    GrammarFix("Each of the students have finished their homework.",
               "Each of the students has finished their homework.",
               '"Each" is singular, so the verb is "has".'),
    GrammarFix("The survey shows that less people are using cash.",
               "The survey shows that fewer people are using cash.",
               'Use "fewer" with countable nouns like people; "less" is for uncountable '
               "amounts, such as less money."),
    GrammarFix("Its been a long day and the dog wants it's dinner.",
               "It's been a long day and the dog wants its dinner.",
               '"It\'s" means "it is" or "it has"; "its" is the possessive form.'),
    GrammarFix("I should of called you earlier.",
               "I should have called you earlier.",
               '"Should of" is a mishearing of "should\'ve", the contraction of "should '
               'have".'),
    GrammarFix("If I was you, I would apologise to her.",
               "If I were you, I would apologise to her.",
               'Hypothetical conditions take the subjunctive "were", even with "I".'),
    GrammarFix("She don't like coffee, but she drink tea every morning.",
               "She doesn't like coffee, but she drinks tea every morning.",
               'With a third-person singular subject (she), use "doesn\'t" and add -s to the '
               "verb."),
    GrammarFix("Between you and I, the meeting was a waste of time.",
               "Between you and me, the meeting was a waste of time.",
               '"Between" is a preposition, so it takes the object pronoun "me".'),
    GrammarFix("We was planning to leave early, but the train were late.",
               "We were planning to leave early, but the train was late.",
               '"We" takes "were", and the singular "train" takes "was".'),
    GrammarFix("Who's book is this, and whose going to return it?",
               "Whose book is this, and who's going to return it?",
               '"Whose" shows possession; "who\'s" means "who is".'),
    GrammarFix("The team played good, but they could of won by more.",
               "The team played well, but they could have won by more.",
               '"Well" is the adverb describing how they played, and "could of" should be '
               '"could have".'),
    GrammarFix("Walking to school, the rain started to fall.",
               "While I was walking to school, the rain started to fall.",
               "The original says the rain was walking to school; the opening phrase needs a "
               "subject that can actually walk."),
    GrammarFix("There is three reasons why I disagree with the plan.",
               "There are three reasons why I disagree with the plan.",
               '"Reasons" is plural, so the verb is "are".'),
)
GRAMMAR_TEMPLATES = (
    'Fix the grammar in this sentence: "{sentence}"',
    "Can you correct the mistakes in this sentence?\n\n{sentence}",
    "Proofread this for me, please: {sentence}",
)


@dataclass(frozen=True)
class Conversion:
    """A unit conversion: the correct formula, a typical mistake and how to explain both."""

    src: str
    dst: str
    convert: Callable[[float], float]
    mistake: Callable[[float], float]
    calc: str
    method: str
    wrong_method: str
    tip: str
    values: tuple[float, ...]


CONVERSIONS = (
    Conversion("kilometres", "miles", lambda x: x * 0.621371, lambda x: x * 1.609344,
               "{v} × 0.621371", "multiply by 0.621371", "multiply by 1.609",
               "A quick mental estimate: multiply by 0.6.", (5, 10, 21.1, 42.2, 100, 250)),
    Conversion("miles", "kilometres", lambda x: x * 1.609344, lambda x: x * 0.621371,
               "{v} × 1.609344", "multiply by 1.609344 (one mile is exactly 1.609344 km)",
               "multiply by 0.62", "For a rough figure, multiply by 1.6.",
               (3, 13.1, 26.2, 60, 150)),
    Conversion("kilograms", "pounds", lambda x: x * 2.20462, lambda x: x / 2.20462,
               "{v} × 2.20462", "multiply by 2.20462", "divide by 2.2",
               "Roughly, double the number and add 10%.", (2.5, 5, 12, 70, 90)),
    Conversion("pounds", "kilograms", lambda x: x * 0.45359237, lambda x: x * 2.20462,
               "{v} × 0.45359237", "multiply by 0.45359237 (the exact definition of a pound)",
               "multiply by 2.2", "Roughly, halve the number and subtract 10%.",
               (8, 150, 185, 220)),
    Conversion("degrees Celsius", "degrees Fahrenheit", lambda x: x * 9 / 5 + 32,
               lambda x: x * 9 / 5, "{v} × 9/5 + 32", "multiply by 9/5 (1.8) and then add 32",
               "multiply by 9/5", "Reference points: water freezes at 32 °F and boils at 212 °F.",
               (-10, 18, 25, 37, 100)),
    Conversion("degrees Fahrenheit", "degrees Celsius", lambda x: (x - 32) * 5 / 9,
               lambda x: x * 5 / 9, "({v} − 32) × 5/9", "subtract 32 and then multiply by 5/9",
               "multiply by 5/9", "Reference points: water freezes at 0 °C and boils at 100 °C.",
               (50, 72, 98.6, 212, 350)),
    Conversion("inches", "centimetres", lambda x: x * 2.54, lambda x: x / 2.54,
               "{v} × 2.54", "multiply by 2.54 (one inch is exactly 2.54 cm)", "divide by 2.54",
               "A 12-inch ruler is 30.48 cm long.", (6, 12, 27, 55, 65)),
    Conversion("centimetres", "inches", lambda x: x / 2.54, lambda x: x * 2.54,
               "{v} ÷ 2.54", "divide by 2.54", "multiply by 2.54",
               "To split the result into feet and inches, divide the inches by 12.",
               (10, 30, 100, 175, 180)),
    Conversion("litres", "US gallons", lambda x: x * 0.264172, lambda x: x * 3.78541,
               "{v} × 0.264172", "multiply by 0.264172", "multiply by 3.785",
               "Note that an imperial (UK) gallon is larger, about 4.546 litres.",
               (2, 4, 20, 50, 75)),
    Conversion("US gallons", "litres", lambda x: x * 3.785411784, lambda x: x * 0.264172,
               "{v} × 3.785411784", "multiply by 3.785411784", "multiply by 0.264",
               "An imperial (UK) gallon is about 4.546 litres, so check which gallon you mean.",
               (5, 12, 15, 40)),
    Conversion("feet", "metres", lambda x: x * 0.3048, lambda x: x * 3.28084,
               "{v} × 0.3048", "multiply by 0.3048 (one foot is exactly 0.3048 m)",
               "multiply by 3.28", "For a rough figure, divide by 3.3.",
               (6, 10, 100, 5280, 29032)),
    Conversion("metres", "feet", lambda x: x / 0.3048, lambda x: x * 0.3048,
               "{v} ÷ 0.3048", "divide by 0.3048 (or multiply by about 3.28084)",
               "multiply by 0.3048", "For a rough figure, multiply by 3.3.",
               (1.8, 100, 400, 8849)),
    Conversion("ounces", "grams", lambda x: x * 28.349523125, lambda x: x / 28.35,
               "{v} × 28.349523125", "multiply by 28.349523125", "divide by 28.35",
               "These are avoirdupois (weight) ounces, not fluid ounces.", (4, 8, 12, 16)),
    Conversion("US cups", "millilitres", lambda x: x * 236.5882365, lambda x: x * 100,
               "{v} × 236.5882365", "multiply by 236.5882365 (one US cup is about 237 ml)",
               "multiply by 100, since a cup is 100 ml",
               "Many recipes round a US cup to 240 ml; a metric cup is 250 ml.",
               (0.5, 1.5, 2, 3)),
    Conversion("miles per hour", "kilometres per hour", lambda x: x * 1.609344,
               lambda x: x * 0.621371, "{v} × 1.609344", "multiply by 1.609344",
               "multiply by 0.62", "For a rough figure, multiply by 1.6.", (30, 55, 70)),
)
CONVERSION_TEMPLATES = (
    "How many {dst} is {v} {src}?",
    "Convert {v} {src} to {dst}.",
    "What is {v} {src} in {dst}?",
    "Please convert {v} {src} into {dst} and show the calculation.",
)

NAMES = ("Maya", "Liam", "Aisha", "Carlos", "Yuki", "Noah", "Priya", "Ethan", "Sofia", "Omar",
         "Hannah", "Mateo")
SHOPPING_GOODS = (("notebooks", "pens"), ("apples", "bananas"), ("cupcakes", "cookies"),
                  ("tennis balls", "water bottles"))
# Room sizes (length, width) in metres; none has an area equal to its perimeter.
ROOMS = ((3.5, 2.5), (4, 2.5), (4.5, 3), (4.5, 3.5), (5, 2.5), (5, 3.5), (6, 3.5), (6, 4))
SALE_GOODS = ("jacket", "pair of running shoes", "backpack", "desk lamp", "winter coat",
              "coffee maker")


@dataclass(frozen=True)
class Item:
    """A prompt with reference answers at several quality levels."""

    family: str
    prompt: str
    good: str
    thin: str
    wrong: str
    complexity: int
    partial: str = ""


def parse_records(block: str) -> list[tuple[str, dict[str, str]]]:
    """Split a text block into ``(header, {section: text})`` records (format above)."""
    records = []
    for chunk in block.replace("\\\n", "").split("\n=== ")[1:]:
        header, *parts = chunk.split("\n--- ")
        sections = {}
        for part in parts:
            name, _, body = part.partition("\n")
            sections[name.strip()] = body.strip()
        records.append((header.strip(), sections))
    return records


def fmt(value: float, digits: int = 2) -> str:
    """Format a number with thousands separators and without trailing zeros."""
    text = f"{round(value, digits):,.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def money(cents: int) -> str:
    """Format an amount of cents as dollars."""
    return f"${cents // 100:,}.{cents % 100:02d}"


def clock(minutes: int) -> str:
    """Format minutes after midnight as an evening clock time (all times are pm)."""
    hour, minute = divmod(minutes, 60)
    return f"{hour - 12 if hour > 12 else hour}:{minute:02d} pm"


def base_items() -> list[Item]:
    """Items for the hand-written prompts."""
    items = []
    for header, sec in parse_records(BASE_RECORDS):
        family, complexity = header.split()
        items.append(Item(family, sec["prompt"], sec["good"], sec["thin"], sec["wrong"],
                          int(complexity)))
    return items


def term_items() -> list[Item]:
    """'Explain term X' items built from the glossary records."""
    items = []
    for index, (term, sec) in enumerate(parse_records(TERM_RECORDS)):
        bare = term.removeprefix("an ").removeprefix("a ").removeprefix("the ")
        template = TERM_TEMPLATES[index % len(TERM_TEMPLATES)]
        definition = sec["definition"]
        thin = definition.split(". ")[0].rstrip(".") + "."
        good = f"{definition}\n\n**Example:** {sec['example']}"
        items.append(Item("glossary", template.format(term=term, bare=bare), good, thin,
                          sec["wrong"], 2))
    return items


def translation_items() -> list[Item]:
    """False-friend translation items."""
    items = []
    for index, ff in enumerate(FALSE_FRIENDS):
        template = TRANSLATION_TEMPLATES[index % len(TRANSLATION_TEMPLATES)]
        prompt = template.format(language=ff.language, word=ff.word)
        good = (f'"{ff.word}" means **{ff.meaning}** in English.\n\n'
                f'Example: *{ff.example}* ("{ff.example_en}")\n\n'
                f"Watch out, it's a false friend: {ff.note}")
        thin = f'The {ff.language} word "{ff.word}" means "{ff.meaning}" in English.'
        wrong = (f'"{ff.word}" means "{ff.wrong}" in English. It\'s a cognate, so it means the '
                 "same as the English word it looks like, and you can use it the same way.")
        items.append(Item("translation", prompt, good, thin, wrong, 1))
    return items


def capital_items() -> list[Item]:
    """Capital-city items where the best-known city is the tempting wrong answer."""
    items = []
    for index, cap in enumerate(CAPITALS):
        template = CAPITAL_TEMPLATES[index % len(CAPITAL_TEMPLATES)]
        good = (f"The capital of {cap.country} is **{cap.city}**, not {cap.wrong} as many "
                f"people assume. {cap.fact}")
        thin = f"The capital city of {cap.country} is {cap.city}."
        wrong = (f"The capital of {cap.country} is {cap.wrong}. It's the country's biggest and "
                 "best-known city, so that's where the government is based.")
        items.append(Item("geography", template.format(country=cap.country), good, thin, wrong,
                          1))
    return items


def grammar_items() -> list[Item]:
    """Grammar-correction items."""
    items = []
    for index, fix in enumerate(GRAMMAR_FIXES):
        template = GRAMMAR_TEMPLATES[index % len(GRAMMAR_TEMPLATES)]
        good = f'Corrected sentence:\n\n"{fix.fixed}"\n\nWhat changed: {fix.why}'
        thin = f'Here is the corrected sentence: "{fix.fixed}"'
        wrong = ("This sentence is already grammatically correct, so no changes are needed:"
                 f'\n\n"{fix.sentence}"')
        items.append(Item("grammar", template.format(sentence=fix.sentence), good, thin,
                          wrong, 1))
    return items


def conversion_item(conv: Conversion, value: float, template: str) -> Item:
    """One unit-conversion item with computed answers."""
    v, result, mistake = fmt(value), conv.convert(value), conv.mistake(value)
    rounded = abs(result - round(result, 2)) > 1e-9
    note = " (rounded to two decimal places)" if rounded else ""
    calc = conv.calc.format(v=v)
    good = (f"{v} {conv.src} is **{fmt(result)} {conv.dst}**{note}.\n\n"
            f"To convert {conv.src} to {conv.dst}, {conv.method}:\n\n"
            f"{calc} = {fmt(result)}\n\n{conv.tip}")
    thin = f"{v} {conv.src} is about {fmt(result)} {conv.dst} ({calc})."
    wrong = (f"{v} {conv.src} is {fmt(mistake)} {conv.dst}. To convert, you simply "
             f"{conv.wrong_method}.")
    partial = (f"To go from {conv.src} to {conv.dst}, {conv.method}. Apply that to your "
               f"{v} {conv.src} and you will have the value in {conv.dst}.")
    prompt = template.format(v=v, src=conv.src, dst=conv.dst)
    return Item("conversion", prompt, good, thin, wrong, 1, partial)


def conversion_items(rng: random.Random) -> list[Item]:
    """Two unit-conversion items per conversion, with values drawn from its list."""
    items = []
    for conv in CONVERSIONS:
        for value in rng.sample(conv.values, 2):
            template = CONVERSION_TEMPLATES[len(items) % len(CONVERSION_TEMPLATES)]
            items.append(conversion_item(conv, value, template))
    return items


def shopping_problem(rng: random.Random) -> Item:
    """Total cost of two kinds of goods."""
    name = rng.choice(NAMES)
    thing_a, thing_b = rng.choice(SHOPPING_GOODS)
    qty_a, qty_b = rng.randint(2, 6), rng.randint(2, 9)
    price_a, price_b = rng.choice((125, 150, 275, 320, 450)), rng.choice((60, 80, 110, 135))
    cost_a, cost_b = qty_a * price_a, qty_b * price_b
    total, slip = cost_a + cost_b, cost_a + price_b
    prompt = (f"{name} buys {qty_a} {thing_a} at {money(price_a)} each and {qty_b} {thing_b} "
              f"at {money(price_b)} each. How much does {name} spend in total?")
    good = (f"{name} spends **{money(total)}** in total.\n\n"
            f"- {thing_a.capitalize()}: {qty_a} × {money(price_a)} = {money(cost_a)}\n"
            f"- {thing_b.capitalize()}: {qty_b} × {money(price_b)} = {money(cost_b)}\n"
            f"- Total: {money(cost_a)} + {money(cost_b)} = {money(total)}")
    thin = f"{name} spends {money(total)} altogether on the {thing_a} and {thing_b}."
    wrong = (f"{name} spends {money(slip)}. The {thing_a} cost {money(cost_a)} and the "
             f"{thing_b} cost {money(price_b)}, so the total is {money(slip)}.")
    partial = (f"Start with the {thing_a}: {qty_a} × {money(price_a)} = {money(cost_a)}. Then "
               f"add what the {thing_b} cost to find how much {name} spends altogether.")
    return Item("arithmetic", prompt, good, thin, wrong, 2, partial)


def travel_time_problem(rng: random.Random) -> Item:
    """Journey time from distance and speed (a half-hour remainder invites a slip)."""
    speed = rng.choice((60, 70, 80, 90, 100, 120))
    hours = rng.choice((1.5, 2.5, 3.5, 4.5))
    distance = int(speed * hours)
    hours_text = f"{int(hours)} hour{'s' if hours >= 2 else ''}"
    prompt = (f"A train travels {distance} km at an average speed of {speed} km/h. How long "
              "does the journey take?")
    good = (f"The journey takes **{hours_text} 30 minutes**.\n\n"
            f"Time = distance ÷ speed = {distance} km ÷ {speed} km/h = {hours} hours, and "
            f"0.5 hours is 30 minutes, so that's {hours_text} 30 minutes.")
    thin = f"It takes {hours} hours, which is {hours_text} 30 minutes."
    wrong = (f"The journey takes {hours_text} 50 minutes, because {distance} ÷ {speed} = "
             f"{hours}.")
    partial = (f"Use time = distance ÷ speed. The distance is {distance} km and the speed is "
               f"{speed} km/h, so divide the distance by the speed to get the time.")
    return Item("arithmetic", prompt, good, thin, wrong, 2, partial)


def discount_problem(rng: random.Random) -> Item:
    """Sale price after a percentage discount."""
    thing = rng.choice(SALE_GOODS)
    price = rng.choice((40, 60, 75, 80, 90, 120, 150))
    pct = rng.choice((15, 20, 25, 30, 35, 40))
    off = price * pct
    sale = price * 100 - off
    prompt = (f"A {thing} normally costs ${price} and is on sale for {pct}% off. What is the "
              "sale price?")
    good = (f"The sale price is **{money(sale)}**.\n\n"
            f"- Discount: {pct}% of ${price} = {fmt(pct / 100)} × {price} = {money(off)}\n"
            f"- Sale price: ${price} − {money(off)} = {money(sale)}\n\n"
            f"Shortcut: you pay {100 - pct}%, so {price} × {fmt((100 - pct) / 100)} = "
            f"{money(sale)}.")
    thin = f"The sale price is {money(sale)} after the {pct}% discount."
    wrong = f"The sale price is {money(off)}, since {pct}% of ${price} is {money(off)}."
    partial = (f"{pct}% of ${price} is {money(off)}, so that's how much is taken off the "
               f"{thing}.")
    return Item("arithmetic", prompt, good, thin, wrong, 2, partial)


def bill_split_problem(rng: random.Random) -> Item:
    """Per-person share of a bill plus tip."""
    people = rng.choice((3, 4, 5, 6))
    bill = rng.choice((84, 96, 120, 132, 150, 168))
    tip_pct = rng.choice((15, 18, 20))
    tip = bill * tip_pct
    total = bill * 100 + tip
    each = round(total / people)
    rounded = " (rounded to the nearest cent)" if total % people else ""
    prompt = (f"{people} friends have a dinner bill of ${bill}. They want to add a {tip_pct}% "
              "tip and split the total equally. How much does each person pay?")
    good = (f"Each person pays **{money(each)}**{rounded}.\n\n"
            f"1. Tip: {tip_pct}% of ${bill} = {money(tip)}\n"
            f"2. Total with tip: ${bill} + {money(tip)} = {money(total)}\n"
            f"3. Per person: {money(total)} ÷ {people} = {money(each)}")
    thin = f"Each of the {people} friends pays about {money(each)}, tip included."
    wrong = (f"Each person pays {money(round(bill * 100 / people))}: the ${bill} bill divided "
             f"by {people} people.")
    partial = (f"The tip is {tip_pct}% of ${bill}, which is {money(tip)}, so the total comes to "
               f"{money(total)}. That amount then gets shared between the {people} friends.")
    return Item("arithmetic", prompt, good, thin, wrong, 2, partial)


def average_problem(rng: random.Random) -> Item:
    """Mean of four test scores."""
    name = rng.choice(NAMES)
    scores = [rng.randint(62, 99) for _ in range(4)]
    total = sum(scores)
    listed = f"{scores[0]}, {scores[1]}, {scores[2]} and {scores[3]}"
    prompt = (f"{name} scored {listed} on four math tests. What is {name}'s average score?")
    good = (f"{name}'s average score is **{fmt(total / 4)}**.\n\n"
            f"Add the scores: {' + '.join(map(str, scores))} = {total}. Then divide by the "
            f"number of tests: {total} ÷ 4 = {fmt(total / 4)}.")
    thin = f"{name}'s average across the four tests is {fmt(total / 4)}."
    wrong = (f"The average score is {fmt(total / 3)}: add them up to get {total} and divide "
             "by 3.")
    partial = (f"Adding the four scores gives {total}. That total is what you need to work "
               f"out how {name} did on average.")
    return Item("arithmetic", prompt, good, thin, wrong, 2, partial)


def interest_problem(rng: random.Random) -> Item:
    """Simple interest over several years."""
    principal = rng.choice((500, 1200, 2000, 2500, 5000))
    rate = rng.choice((2, 3, 4, 5))
    years = rng.choice((2, 3, 4, 5))
    interest = principal * rate * years  # in cents: principal * 100 * rate / 100
    one_year = principal * rate
    prompt = (f"If I deposit ${principal:,} in a savings account that pays {rate}% simple "
              f"interest per year, how much interest will I earn after {years} years?")
    good = (f"You'll earn **{money(interest)}** in interest.\n\n"
            f"Simple interest = principal × rate × time = ${principal:,} × {fmt(rate / 100)} × "
            f"{years} = {money(interest)}, so your balance after {years} years would be "
            f"{money(principal * 100 + interest)}.\n\nWith compound interest you would earn "
            "slightly more, because interest would also be earned on earlier interest.")
    thin = f"You would earn {money(interest)} in interest over the {years} years."
    wrong = (f"You'll earn {money(one_year)} in interest, because {rate}% of ${principal:,} is "
             f"{money(one_year)}.")
    partial = (f"Use the formula I = P × r × t, where P is ${principal:,}, r is {rate}% and t "
               f"is {years} years. Multiplying those together gives the interest.")
    return Item("arithmetic", prompt, good, thin, wrong, 2, partial)


def recipe_problem(rng: random.Random) -> Item:
    """Scaling an ingredient to a different number of servings."""
    serves = rng.choice((4, 6, 8))
    target = rng.choice([n for n in (2, 3, 5, 10, 12) if n != serves])
    grams = rng.choice((240, 300, 360, 480))
    need, per = grams * target / serves, grams / serves
    prompt = (f"A recipe that serves {serves} people needs {grams} g of flour. How much flour "
              f"do I need to serve {target} people?")
    good = (f"You need **{fmt(need)} g** of flour.\n\n"
            f"Work out the amount per person and scale it: {grams} g ÷ {serves} = {fmt(per)} g "
            f"per person, then {fmt(per)} g × {target} = {fmt(need)} g. Scale the other "
            f"ingredients by the same factor ({target}/{serves}).")
    thin = f"You'll need {fmt(need)} g of flour for {target} people."
    wrong = (f"You need {fmt(grams * serves / target)} g of flour: multiply {grams} g by "
             f"{serves}/{target}.")
    partial = (f"First find how much flour one serving needs by dividing {grams} g by {serves}, "
               f"which is {fmt(per)} g per person. From there you can scale the recipe.")
    return Item("arithmetic", prompt, good, thin, wrong, 2, partial)


def flooring_problem(rng: random.Random) -> Item:
    """Area of a rectangular room (the perimeter is the tempting mistake)."""
    length, width = rng.choice(ROOMS)
    area, perimeter = length * width, 2 * (length + width)
    dims = f"{fmt(length)} m × {fmt(width)} m"
    prompt = (f"A rectangular room is {fmt(length)} m long and {fmt(width)} m wide. How many "
              "square metres of flooring do I need to cover it?")
    good = (f"You need **{fmt(area)} m²** of flooring.\n\n"
            f"Area of a rectangle = length × width = {dims} = {fmt(area)} m². In practice, buy "
            f"about 10% extra for cutting and waste, so roughly {fmt(area * 1.1, 1)} m².")
    thin = f"You need {fmt(area)} m² of flooring ({dims})."
    wrong = (f"You need {fmt(perimeter)} m² of flooring. Add up all four walls: {fmt(length)} + "
             f"{fmt(width)} + {fmt(length)} + {fmt(width)} = {fmt(perimeter)}.")
    partial = ("Flooring is measured by area, and for a rectangle the area is the length times "
               f"the width, so multiply {fmt(length)} by {fmt(width)} to get the square metres.")
    return Item("arithmetic", prompt, good, thin, wrong, 2, partial)


def percentage_problem(rng: random.Random) -> Item:
    """A percentage of a number."""
    pct = rng.choice((8, 12, 15, 35, 40, 65))
    number = rng.choice((45, 80, 250, 360, 1200))
    result = pct * number / 100
    prompt = rng.choice((f"Quick math question: what is {pct}% of {number}?",
                         f"I need to know what {pct} percent of {number} is. Can you work it out?"))
    good = (f"{pct}% of {number} is **{fmt(result)}**.\n\n"
            f"Convert the percentage to a decimal and multiply: {pct}% = {fmt(pct / 100)}, and "
            f"{fmt(pct / 100)} × {number} = {fmt(result)}.")
    thin = f"{pct}% of {number} works out to {fmt(result)}."
    wrong = (f"{pct}% of {number} is {fmt(number / pct)}, because you divide {number} by "
             f"{pct}.")
    partial = (f"To find a percentage of a number, turn {pct}% into a decimal "
               f"({fmt(pct / 100)}) and multiply it by {number}.")
    return Item("arithmetic", prompt, good, thin, wrong, 2, partial)


def movie_end_problem(rng: random.Random) -> Item:
    """End time of a film whose minutes carry over into the next hour."""
    start = rng.choice((18, 19, 20)) * 60 + rng.choice((40, 45, 50, 55))
    hours, mins = rng.choice((1, 2)), rng.choice((25, 30, 35, 40, 45))
    middle, end = start + hours * 60, start + hours * 60 + mins
    unit = "hour" if hours == 1 else "hours"
    prompt = (f"A movie starts at {clock(start)} and runs for {hours} {unit} {mins} minutes. "
              "What time does it end?")
    good = (f"The movie ends at **{clock(end)}**.\n\nAdd the hours first: {clock(start)} + "
            f"{hours} {unit} = {clock(middle)}. Then add {mins} minutes: {clock(middle)} + {mins} "
            f"minutes = {clock(end)}, since the minutes carry over into the next hour.")
    thin = f"It ends at {clock(end)}, {hours} {unit} {mins} minutes after it starts."
    wrong = (f"It ends at {clock(end - 60)}. {clock(start)} plus {hours} {unit} {mins} minutes "
             f"is {clock(end - 60)}.")
    partial = (f"Add {hours} {unit} and {mins} minutes to {clock(start)}. The hours take you to "
               f"{clock(middle)}, and then the minutes go on top of that.")
    return Item("arithmetic", prompt, good, thin, wrong, 2, partial)


WORD_PROBLEMS = (shopping_problem, travel_time_problem, discount_problem, bill_split_problem,
                 average_problem, interest_problem, recipe_problem, flooring_problem,
                 percentage_problem, movie_end_problem)


def word_problem_items(rng: random.Random, per_kind: int = 3) -> list[Item]:
    """``per_kind`` distinct items from each word-problem generator."""
    items: list[Item] = []
    seen: set[str] = set()
    for make in WORD_PROBLEMS:
        made = 0
        while made < per_kind:
            item = make(rng)
            if item.prompt not in seen:
                seen.add(item.prompt)
                items.append(item)
                made += 1
    return items


def collect_items(rng: random.Random) -> list[Item]:
    """All items of every family, in a shuffled order."""
    items = [*base_items(), *term_items(), *translation_items(), *capital_items(),
             *grammar_items(), *conversion_items(rng), *word_problem_items(rng)]
    rng.shuffle(items)
    return items


def tier_plan(count: int, rng: random.Random) -> list[tuple[int, ...]]:
    """Quality tiers per prompt: cycles of all 2- and 3-tier combinations, plus some ties."""
    combos = [c for size in (2, 3) for c in itertools.combinations(range(5), size)]
    plan: list[tuple[int, ...]] = []
    while len(plan) < count:
        cycle = combos[:]
        rng.shuffle(cycle)
        plan.extend(cycle)
    plan = plan[:count]
    for index in range(TIE_EVERY // 2, count, TIE_EVERY):
        plan[index] = TIE_COMBOS[(index // TIE_EVERY) % len(TIE_COMBOS)]
    return plan


def kind_options(tier: int, item: Item) -> list[str]:
    """Kinds of response that can represent ``tier`` for ``item`` (repeats weight a kind)."""
    if tier == 2:
        return ["padded"] + (["partial"] if item.partial else []) + (
            ["truncated"] if len(item.good) >= 350 else [])
    return {4: ["good"], 3: ["thin"], 1: ["wrong", "wrong", "evasive"],
            0: ["refusal", "offtopic", "gibberish"]}[tier]


def pick_kinds(tiers: tuple[int, ...], item: Item, rng: random.Random) -> list[str]:
    """One distinct kind of response per tier."""
    kinds: list[str] = []
    for tier in tiers:
        kinds.append(rng.choice([k for k in kind_options(tier, item) if k not in kinds]))
    return kinds


def padded(item: Item, rng: random.Random) -> str:
    """The thin answer buried in filler."""
    parts = (rng.choice(PAD_OPENERS), item.thin, rng.choice(PAD_MIDDLES), rng.choice(PAD_CLOSERS))
    return "\n\n".join(parts)


def truncated(item: Item) -> str:
    """The good answer cut off mid-way, like a generation that hit its length limit."""
    cut = item.good.rfind(" ", 0, int(len(item.good) * 0.45))
    return item.good[:cut].rstrip(" ,;:-")


def gibberish(item: Item, rng: random.Random) -> str:
    """A degenerate word salad made from the good answer, with a stutter."""
    words = item.good.replace("**", "").split()
    rng.shuffle(words)
    words = words[:40]
    at = rng.randrange(len(words))
    words[at:at] = [words[at]] * 3
    return " ".join(words)


def render(kind: str, item: Item, rng: random.Random, items: list[Item]) -> tuple[str, int]:
    """The text of a response of ``kind`` and its complexity score."""
    simple: dict[str, tuple[str, int]] = {
        "good": (item.good, item.complexity),
        "thin": (item.thin, max(item.complexity - 1, 0)),
        "partial": (item.partial, item.complexity),
        "wrong": (item.wrong, item.complexity),
    }
    if kind in simple:
        return simple[kind]
    if kind == "offtopic":
        other = rng.choice([o for o in items if o.family != item.family])
        return other.good, other.complexity
    makers: dict[str, Callable[[], tuple[str, int]]] = {
        "padded": lambda: (padded(item, rng), 1),
        "truncated": lambda: (truncated(item), item.complexity),
        "evasive": lambda: (rng.choice(EVASIONS), 1),
        "refusal": lambda: (rng.choice(REFUSALS), 0),
        "gibberish": lambda: (gibberish(item, rng), 0),
    }
    return makers[kind]()


def verbosity(kind: str, text: str) -> int:
    """Verbosity score: length-based, except that padding is always maximal."""
    if kind == "padded":
        return 4
    return sum(len(text) >= step for step in VERBOSITY_STEPS)


def make_row(item: Item, kind: str, text: str, complexity: int) -> dict[str, Any]:
    """A pointwise row in the HelpSteer2 schema."""
    correctness, coherence = KIND_SCORES[kind]
    scores = (KIND_TIER[kind], correctness, coherence, complexity, verbosity(kind, text))
    return {"prompt": item.prompt, "response": text, **dict(zip(ATTRIBUTES, scores, strict=True))}


def build_groups(items: list[Item], rng: random.Random) -> list[list[dict[str, Any]]]:
    """Rows grouped by prompt, each group in a shuffled response order."""
    groups = []
    for item, tiers in zip(items, tier_plan(len(items), rng), strict=True):
        rows = []
        for kind in pick_kinds(tiers, item, rng):
            text, complexity = render(kind, item, rng, items)
            rows.append(make_row(item, kind, text, complexity))
        rng.shuffle(rows)
        groups.append(rows)
    return groups


def preference_row(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    """A HelpSteer2-preference row; negative strength means response_1 is better."""
    diff = second["helpfulness"] - first["helpfulness"]
    return {"prompt": first["prompt"], "response_1": first["response"],
            "response_2": second["response"], "preference_strength": max(-3, min(3, diff))}


def preference_rows(groups: list[list[dict[str, Any]]], rng: random.Random) -> list[dict]:
    """One or two pairs per prompt, always keeping pairs of equal helpfulness."""
    rows = []
    for group in groups:
        pairs = list(itertools.combinations(group, 2))
        if len(pairs) > 1:
            ties = [p for p in pairs if p[0]["helpfulness"] == p[1]["helpfulness"]]
            others = [p for p in pairs if p not in ties]
            rng.shuffle(others)
            keep = 2 if ties or rng.random() < SECOND_PAIR_RATE else 1
            pairs = (ties + others)[:keep]
        for pair in pairs:
            first, second = pair if rng.random() < 0.5 else pair[::-1]
            rows.append(preference_row(first, second))
    return rows


def check(groups: list[list[dict[str, Any]]]) -> None:
    """Raise ValueError if prompts repeat, a (prompt, response) pair repeats or a text is empty."""
    prompts = [group[0]["prompt"] for group in groups]
    if len(set(prompts)) != len(prompts):
        raise ValueError("duplicate prompt")
    pairs = [(row["prompt"], row["response"]) for group in groups for row in group]
    if len(set(pairs)) != len(pairs):
        raise ValueError("duplicate (prompt, response) pair")
    if not all(prompt.strip() and response.strip() for prompt, response in pairs):
        raise ValueError("empty prompt or response")


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write rows as UTF-8 JSON lines with a fixed key order."""
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def main() -> None:
    """Generate both sample files and print a short summary."""
    parser = argparse.ArgumentParser(description="Generate the HelpSteer2-style sample data.")
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR,
                        help=f"output directory (default: {DEFAULT_OUT_DIR})")
    args = parser.parse_args()
    rng = random.Random(SEED)
    items = collect_items(rng)
    groups = build_groups(items, rng)
    check(groups)
    pointwise = [row for group in groups for row in group]
    preference = preference_rows(groups, rng)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    write_jsonl(args.out_dir / POINTWISE_FILE, pointwise)
    write_jsonl(args.out_dir / PREFERENCE_FILE, preference)
    histogram = Counter(row["helpfulness"] for row in pointwise)
    print(f"{len(pointwise)} rows over {len(groups)} prompts, {len(preference)} pairs; "
          f"helpfulness {dict(sorted(histogram.items()))}")


if __name__ == "__main__":
    main()
