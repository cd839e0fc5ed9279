"""``python -m nhrpscope.schemas > docs/json.md``"""

from nhrpscope.schemas.doc import render

print(render(), end="")
