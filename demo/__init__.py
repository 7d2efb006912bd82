"""The demo data generator behind `manage.py seed_demo` (the steps: demo/seed.py). An app at the top
of the layers: it imports the domain apps, nothing imports it. This module stays empty so Django can
load the app before the models are ready."""
