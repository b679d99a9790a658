# destroy_default_loop.py - the calls of gevent's test__destroy_default_loop: a gevent loop
# object destroys the default loop while other loop objects still point at it. Those later
# ask ev_userdata() whether it is still alive and must not touch it; a fresh hub then gets a
# working default loop again. Prints one line per step; any crash or assertion fails.
import gevent
from gevent._hub_local import get_hub_if_exists, set_hub, set_loop


def reset_hub():
    hub = get_hub_if_exists()
    if hub is not None:
        hub.destroy(destroy_loop=True)
    set_hub(None)
    set_loop(None)


# The hub's loop object and a second one share the default loop; the second destroys it.
gevent.get_hub()
second = gevent.config.loop(default=True)
assert second.default
second.destroy()
assert not second.default
del second
reset_hub()  # the hub's loop object finds the loop destroyed
print("destroyed under a live hub")

# Two loop objects destroyed one after the other: the second one is a no-op.
a = gevent.config.loop(default=True)
b = gevent.config.loop(default=True)
assert a.default and b.default
a.destroy()
assert not a.default
b.destroy()
assert not b.default and not b.ptr
reset_hub()
print("destroyed twice")

# A new hub gets the default loop again, and it runs.
assert gevent.get_hub().loop.default
gevent.sleep(0.01)
print("default loop runs again")
