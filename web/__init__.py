"""The facilitators' web dashboard (served by ``trellis run``) and the community's static history
site (``trellis site build``): both read the store through the same services as the commands."""
