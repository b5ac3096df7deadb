"""Class-based actors."""

from __future__ import annotations

from .actor import actor


class generic_actor(type):
    """Metaclass turning each non-abstract GenericActor subclass into an
    actor instance, configured from its ``Meta`` inner class."""

    def __new__(metacls, name, bases, attrs):
        clazz = super().__new__(metacls, name, bases, attrs)
        meta = getattr(clazz, "Meta", object())
        if getattr(meta, "abstract", False):
            # Subclasses inherit this Meta but are concrete by default.
            setattr(meta, "abstract", False)
            return clazz
        options = {key: getattr(meta, key) for key in vars(meta) if not key.startswith("_")}
        options.pop("abstract", None)
        make_actor = options.pop("actor", actor)
        instance = clazz()
        setattr(clazz, "__getattr__", generic_actor.__getattr__)
        setattr(instance, "__actor__", make_actor(instance, **options))
        return instance

    def __getattr__(cls, name):
        if "__actor__" not in cls.__dict__:
            raise AttributeError(f"type object {cls.__name__!r} has no attribute {name!r}")
        return getattr(cls.__actor__, name)


class GenericActor(metaclass=generic_actor):
    """Base class for class-based actors: implement ``perform``; put actor
    options in an inner ``Meta`` class (``abstract = True`` for bases)."""

    class Meta:
        abstract = True

    @property
    def __name__(self) -> str:
        """The default actor name: the class name."""
        return type(self).__name__

    def __call__(self, *args, **kwargs):
        return self.perform(*args, **kwargs)

    def perform(self, *args, **kwargs):
        """The actor's body. Subclasses must implement it.

        Parameters:
          args: the message's positional arguments.
          kwargs: the message's keyword arguments.
        """
        raise NotImplementedError("%s does not implement perform()" % self.__name__)
