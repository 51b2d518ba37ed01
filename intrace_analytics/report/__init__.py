"""Views of a load: the HTML report and the text summary, laid out once, formatted once."""
