"""Quota, LimitRange and node capacity. Sources: k8s docs "Resource Quotas" (compute resource
quota keys; "If quota is enabled in a namespace for compute resources like cpu and memory, users
must specify requests or limits for those values"; object count quota count/<resource>.<group>;
quota scopes), "Limit Ranges" (default and defaultRequest applied at admission), "Resource
Management for Pods and Containers" (requests default to limits; the scheduler uses requests),
"Sidecar Containers" (effective requests with restartable init containers), and the quota pod
evaluator's constraint check (pkg/quota/v1/evaluator/core/pods.go: "must specify ...")."""

from archconform.model import capacity as C

from .helpers import deployment, hpa


def quota(hard, name="q", ns="n", **spec):
    return {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": name, "namespace": ns}, "spec": {"hard": hard, **spec}}


RES = {"requests": {"cpu": "500m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}}


def test_hpa_max_against_requests_and_limits():
    objs = [deployment("n", "api", resources=RES), hpa("n", "api", "api", 3, 20),
            deployment("n", "worker", resources={"requests": {"cpu": "250m", "memory": "128Mi"},
                                                 "limits": {"cpu": "250m", "memory": "128Mi"}}, replicas=2),
            quota({"requests.cpu": "10", "limits.memory": "8Gi", "pods": "30"})]
    fit = C.quota_fit(objs, "n", "api")
    assert not fit.ok
    text = str(fit)
    assert "requests.cpu 20 x 500m + others 500m = 10500m > hard 10" in text
    assert "limits.memory 20 x 512Mi + others 256Mi = 10496Mi > hard 8Gi" in text
    assert fit.admitted == 15  # limits.memory: (8Gi - 256Mi) / 512Mi = 15.5 -> 15
    assert C.pods_admitted(objs, "n", "api") == 15
    assert C.quota_fit(objs, "n", "api", 15).ok


def test_pod_count_quota_31st_rejected():
    # docs "Object count quota": pods is the number of non-terminal pods
    objs = [deployment("n", "api", resources=RES), quota({"pods": "30"})]
    assert C.pods_admitted(objs, "n", "api") == 30
    assert C.quota_fit(objs, "n", "api", 30).ok
    assert not C.quota_fit(objs, "n", "api", 31).ok


def test_shorthand_cpu_memory_are_requests():
    # docs: "cpu" and "requests.cpu" are the same quota resource
    objs = [deployment("n", "api", resources=RES), quota({"cpu": "2", "memory": "1Gi"})]
    assert C.pods_admitted(objs, "n", "api") == 4  # cpu 2 / 500m = 4, memory 1Gi / 256Mi = 4


def test_undeclared_resource_is_rejected_outright():
    # quota tracks limits.memory; the container declares only requests -> "must specify limits.memory"
    objs = [deployment("n", "api", resources={"requests": {"cpu": "100m", "memory": "64Mi"}}), quota({"limits.memory": "64Gi"})]
    fit = C.quota_fit(objs, "n", "api", 1)
    assert not fit.ok and fit.admitted == 0 and "rejects every pod" in str(fit)
    assert C.pods_admitted(objs, "n", "api") == 0


def test_limit_range_defaults_fill_the_gap():
    # docs "Limit Ranges": default (limits) and defaultRequest (requests) fill missing values;
    # a LimitRange with only default also defaults requests to it
    lr = {"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "lr", "namespace": "n"},
          "spec": {"limits": [{"type": "Container", "default": {"cpu": "500m", "memory": "256Mi"}}]}}
    objs = [deployment("n", "api"), lr, quota({"requests.cpu": "2", "limits.memory": "1Gi"})]
    fit = C.quota_fit(objs, "n", "api", 4)
    assert fit.ok, str(fit)
    assert C.pods_admitted(objs, "n", "api") == 4
    res = C.pod_resources(objs[0], objs)
    assert res.requests == {"cpu": 500, "memory": 256 * 2**20}


def test_requests_default_to_limits():
    d = deployment("n", "api", resources={"limits": {"cpu": "2", "memory": "1Gi"}})
    assert C.pod_resources(d).requests == {"cpu": 2000, "memory": 2**30}


def test_init_and_sidecar_containers():
    # docs "Sidecar Containers" / "Init containers": effective request = max(sum(app)+sidecars, init peak)
    d = deployment("n", "api", resources={"requests": {"cpu": "200m"}})
    d["spec"]["template"]["spec"]["initContainers"] = [
        {"name": "migrate", "image": "x", "resources": {"requests": {"cpu": "1"}}},
        {"name": "proxy", "image": "x", "restartPolicy": "Always", "resources": {"requests": {"cpu": "100m"}}},
    ]
    assert C.pod_resources(d).requests["cpu"] == 1000  # max(200 + 100, 1000)
    d["spec"]["template"]["spec"]["initContainers"][0]["resources"]["requests"]["cpu"] = "250m"
    assert C.pod_resources(d).requests["cpu"] == 300


def test_scopes():
    # docs "Quota Scopes": BestEffort quotas track only pods without requests/limits
    be = quota({"pods": "1"}, scopes=["BestEffort"])
    objs = [deployment("n", "api", resources=RES), be]
    assert C.pods_admitted(objs, "n", "api") == C.UNLIMITED
    objs = [deployment("n", "api"), be]
    assert C.pods_admitted(objs, "n", "api") == 1


def test_object_count_quota():
    objs = [deployment("n", "a"), deployment("n", "b"), quota({"count/deployments.apps": "1"})]
    fit = C.quota_fit(objs, "n", "a", 1)
    assert not fit.ok and "count/deployments.apps 2 object(s) > hard 1" in str(fit)


def test_surge_needs_room():
    objs = [deployment("n", "api", resources=RES), quota({"pods": "20"})]
    assert C.quota_fit(objs, "n", "api", 20).ok
    assert not C.quota_fit(objs, "n", "api", 20, surge=5).ok


def test_node_fit_bin_packing():
    nodes = [{"name": f"n{i}", "cpu": "2", "memory": "4Gi"} for i in range(3)]
    objs = [deployment("n", "api", resources=RES), hpa("n", "api", "api", 2, 20)]
    fit = C.node_fit(objs, "n", "api", nodes=nodes)
    assert fit.fits == 12 and not fit.ok  # 4 per node by cpu (2 / 500m)
    objs.append(deployment("n", "db", resources={"requests": {"cpu": "1500m", "memory": "1Gi"}}, replicas=1))
    assert C.node_fit(objs, "n", "api", nodes=nodes).fits == 9
    node_obj = {"kind": "Node", "metadata": {"name": "big", "labels": {}}, "status": {"allocatable": {"cpu": "16", "memory": "64Gi", "pods": "110"}}}
    assert C.node_fit(objs, "n", "api", 20, nodes=[node_obj]).ok


def test_node_fit_anti_affinity_one_per_node():
    aff = {"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": {"app": "api"}}}]}}}
    objs = [deployment("n", "api", resources=RES, spec_extra=aff)]
    fit = C.node_fit(objs, "n", "api", 5, nodes=[{"name": f"n{i}", "cpu": "8", "memory": "8Gi"} for i in range(3)])
    assert fit.fits == 3 and not fit.ok
