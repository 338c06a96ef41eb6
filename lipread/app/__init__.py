"""The page's parts (app.py is the page): widgets, pictures, the browser copy of a video,
files and caches, the model card's figures, a stopwatch."""
