# nbgrader reads this file from the directory it runs in (the course root).
# The settings themselves live in the course's package, autograder/course.py.
from autograder.course import configure_nbgrader

c = get_config()  # noqa: F821 (provided by traitlets)
configure_nbgrader(c)
