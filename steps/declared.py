"""Declared evidence: what the rendered manifests say. Each step calls one ``archconform.declared`` check."""

from __future__ import annotations

from pytest_bdd import then

from archconform import declared as d

from ._vocabulary import SystemUnderTest, phrase


@then(phrase('the system has the namespaces:'))
def _(sut: SystemUnderTest, datatable: list[list[str]]) -> None:
    d.namespaces_exist(sut.manifests, [row[0] for row in d.table_rows(datatable, 1)])


@then(phrase('the {kind} "{ref}" exists'))
def _(sut: SystemUnderTest, kind: str, ref: str) -> None:
    d.exists(sut.manifests, kind, ref)


@then(phrase('the {kind} "{ref}" declares {field} = {value}'))
def _(sut: SystemUnderTest, kind: str, ref: str, field: str, value: str) -> None:
    d.field_equals(sut.manifests, kind, ref, field, value)


@then(phrase('the {kind} "{ref}" declares:'))
def _(sut: SystemUnderTest, kind: str, ref: str, datatable: list[list[str]]) -> None:
    d.fields_equal(sut.manifests, kind, ref, d.table_rows(datatable, 2))


@then(phrase('the {kind} "{ref}" does not set {field}'))
def _(sut: SystemUnderTest, kind: str, ref: str, field: str) -> None:
    d.field_absent(sut.manifests, kind, ref, field)


@then(phrase('every container of the {kind} "{ref}" declares {field} = {value}'))
def _(sut: SystemUnderTest, kind: str, ref: str, field: str, value: str) -> None:
    d.every_container(sut.manifests, kind, ref, field, value)


@then(phrase('the container "{container}" of the {kind} "{ref}" declares {field} = {value}'))
def _(sut: SystemUnderTest, container: str, kind: str, ref: str, field: str, value: str) -> None:
    d.container_field(sut.manifests, kind, ref, container, field, value)


@then(phrase('the container "{container}" of the {kind} "{ref}" requests cpu {cpu} and memory {memory}'))
def _(sut: SystemUnderTest, container: str, kind: str, ref: str, cpu: str, memory: str) -> None:
    d.container_resources(sut.manifests, kind, ref, container, "requests", cpu, memory)


@then(phrase('the container "{container}" of the {kind} "{ref}" is limited to cpu {cpu} and memory {memory}'))
def _(sut: SystemUnderTest, container: str, kind: str, ref: str, cpu: str, memory: str) -> None:
    d.container_resources(sut.manifests, kind, ref, container, "limits", cpu, memory)


@then(phrase('the container "{container}" of the {kind} "{ref}" has a {probe} probe on HTTP GET {path} port {port}'))
def _(sut: SystemUnderTest, container: str, kind: str, ref: str, probe: str, path: str, port: str) -> None:
    d.http_probe(sut.manifests, kind, ref, container, probe, path, port)


@then(phrase('the HorizontalPodAutoscaler "{ref}" scales the {kind} "{target}"'))
def _(sut: SystemUnderTest, ref: str, kind: str, target: str) -> None:
    d.scales(sut.manifests, ref, kind, target)


@then(phrase('the HorizontalPodAutoscaler "{ref}" targets {percent:d}% average {resource} utilization'))
def _(sut: SystemUnderTest, ref: str, percent: int, resource: str) -> None:
    d.hpa_target(sut.manifests, ref, resource, percent)


@then(phrase('the {kind} "{ref}" selects the pods of the {target_kind} "{target}"'))
def _(sut: SystemUnderTest, kind: str, ref: str, target_kind: str, target: str) -> None:
    d.selects_pods_of(sut.manifests, kind, ref, target_kind, target)


@then(phrase('the quota of namespace "{namespace}" sets:'))
def _(sut: SystemUnderTest, namespace: str, datatable: list[list[str]]) -> None:
    d.quota_hard(sut.manifests, namespace, d.table_rows(datatable, 2))


@then(phrase('the namespace "{namespace}" denies all {direction} traffic by default'))
def _(sut: SystemUnderTest, namespace: str, direction: str) -> None:
    d.default_deny(sut.manifests, namespace, direction)


@then(phrase('the namespace "{namespace}" enforces the "{level}" Pod Security Standard'))
def _(sut: SystemUnderTest, namespace: str, level: str) -> None:
    d.namespace_label(sut.manifests, namespace, "pod-security.kubernetes.io/enforce", level)


@then(phrase('the {kind} "{ref}" grants "{verbs}" on "{resources}" in the "{group}" API group'))
def _(sut: SystemUnderTest, kind: str, ref: str, verbs: str, resources: str, group: str) -> None:
    d.role_grants(sut.manifests, kind, ref, verbs, resources, "" if group == "core" else group)


@then(phrase('the Ingress "{ref}" routes host "{host}" path "{path}" to the Service "{service}" on port {port}'))
def _(sut: SystemUnderTest, ref: str, host: str, path: str, service: str, port: str) -> None:
    d.ingress_route(sut.manifests, ref, host, path, service, port)


@then(phrase('the Ingress "{ref}" terminates TLS for host "{host}" with the Secret "{secret}"'))
def _(sut: SystemUnderTest, ref: str, host: str, secret: str) -> None:
    d.ingress_tls(sut.manifests, ref, host, secret)


@then(phrase('every backend of the Ingress "{ref}" is a Service port in its own namespace'))
def _(sut: SystemUnderTest, ref: str) -> None:
    d.ingress_backends_resolve(sut.manifests, ref)


@then(phrase('every ConfigMap, Secret, PersistentVolumeClaim and ServiceAccount the {kind} "{ref}" refers to exists'))
def _(sut: SystemUnderTest, kind: str, ref: str) -> None:
    d.references_resolve(sut.manifests, kind, ref)


@then(phrase('the ConfigMap "{ref}" holds:'))
def _(sut: SystemUnderTest, ref: str, datatable: list[list[str]]) -> None:
    d.configmap_holds(sut.manifests, ref, d.table_rows(datatable, 2))


@then(phrase('the Service "{ref}" exposes port {port} to target port {target}'))
def _(sut: SystemUnderTest, ref: str, port: str, target: str) -> None:
    d.service_port(sut.manifests, ref, port, target)


@then(phrase('the {kind} "{ref}" sets {field}'))
def _(sut: SystemUnderTest, kind: str, ref: str, field: str) -> None:
    d.field_set(sut.manifests, kind, ref, field)


@then(phrase('the container "{container}" of the {kind} "{ref}" runs with the argument "{argument}"'))
def _(sut: SystemUnderTest, container: str, kind: str, ref: str, argument: str) -> None:
    d.container_argument(sut.manifests, kind, ref, container, argument)


@then(phrase('the pods of the {kind} "{ref}" get the "{qos}" QoS class'))
def _(sut: SystemUnderTest, kind: str, ref: str, qos: str) -> None:
    d.qos(sut.manifests, kind, ref, qos)


@then(phrase('the autoscalers of the {kind} "{ref}" do not conflict'))
def _(sut: SystemUnderTest, kind: str, ref: str) -> None:
    d.autoscalers_agree(sut.manifests, kind, ref)
