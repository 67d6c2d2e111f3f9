"""The REST API of IPv8 on ``twisted.web``: start it with :class:`ipv8.REST.rest_manager.RESTManager`."""
