"""The OpenAPI schema is complete: drf-spectacular finds nothing to warn about (an endpoint whose
request, answers or auth it cannot tell fails here), and the document is valid OpenAPI."""

from django.core.management import call_command


def test_schema_generates_without_warnings_and_validates(tmp_path):
    target = tmp_path / "schema.yaml"
    # --fail-on-warn raises SchemaGenerationError on any warning or error; --validate checks the
    # document against the OpenAPI specification.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    assert target.read_text().startswith("openapi:")
