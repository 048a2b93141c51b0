@rbac
Feature: platform-go service account permissions
  The platform uses its own service account with exactly the permissions its flows need and no
  cluster-admin: create and delete namespaces, manage claims, deploy pods and services, read and
  write config maps and secrets.

  Background:
    Given the system "platform_go"

  @offline @modeled @critical
  Scenario: The platform can do everything its flows need
    Source: Kubernetes Architecture Analysis (platform-go) § Security › RBAC Integration
    Then the ServiceAccount "platform-go/platform-go" can "create" "namespaces" cluster-wide
    And the ServiceAccount "platform-go/platform-go" can "delete" "namespaces" cluster-wide
    And the ServiceAccount "platform-go/platform-go" can "create" "persistentvolumeclaims" in namespace "user-john-storage"
    And the ServiceAccount "platform-go/platform-go" can "patch" "persistentvolumeclaims" in namespace "user-john-storage"
    And the ServiceAccount "platform-go/platform-go" can "create" "deployments.apps" in namespace "user-john-storage"
    And the ServiceAccount "platform-go/platform-go" can "create" "services" in namespace "user-john-storage"
    And the ServiceAccount "platform-go/platform-go" can "create" "configmaps" in namespace "user-john-storage"
    And the ServiceAccount "platform-go/platform-go" can "update" "secrets" in namespace "user-john-storage"

  @offline @modeled @critical
  Scenario: The platform is not cluster-admin and cannot grant itself more
    Source: Kubernetes Architecture Analysis (platform-go) § Security › RBAC Integration
    Then no service account of the system is granted cluster-admin or wildcard permissions
    And the ServiceAccount "platform-go/platform-go" cannot "create" "clusterrolebindings" cluster-wide
    And the ServiceAccount "platform-go/platform-go" cannot "create" "rolebindings" in namespace "user-john-storage"
    And the ServiceAccount "platform-go/platform-go" cannot "delete" "nodes" cluster-wide

  @offline @modeled @critical @known_gap @gap:platform-go-secrets-in-every-namespace
  Scenario: The platform's access to secrets stays inside tenant namespaces
    Source: Kubernetes Architecture Analysis (platform-go) § Security › RBAC Integration
    Then the ServiceAccount "platform-go/platform-go" cannot "get" "secrets" in namespace "kube-system"
    And the ServiceAccount "platform-go/platform-go" cannot "create" "pods" in namespace "kube-system"

  @offline @modeled @critical @known_gap @gap:platform-go-cannot-create-tenant-defaults
  Scenario: The platform can give a new tenant namespace its quota and default-deny policies
    Source: Kubernetes Architecture Analysis (platform-go) § Security › Network Policies
    Then the ServiceAccount "platform-go/platform-go" can "create" "networkpolicies" in namespace "user-john-storage"
    And the ServiceAccount "platform-go/platform-go" can "create" "resourcequotas" in namespace "user-john-storage"

  @live @observed @critical
  Scenario: The API server lets the platform run its flows and nothing like cluster-admin
    Source: Kubernetes Architecture Analysis (platform-go) § Security › RBAC Integration
    Given the system is deployed
    Then the API server does not grant the ServiceAccount "platform-go/platform-go" cluster-admin
    And the API server allows the ServiceAccount "platform-go/platform-go" to "create" "namespaces" cluster-wide
    And the API server allows the ServiceAccount "platform-go/platform-go" to "delete" "namespaces" cluster-wide
    And the API server allows the ServiceAccount "platform-go/platform-go" to "create" "persistentvolumeclaims" in namespace "user-john-storage"
    And the API server allows the ServiceAccount "platform-go/platform-go" to "create" "deployments.apps" in namespace "user-john-storage"
    And the API server allows the ServiceAccount "platform-go/platform-go" to "create" "services" in namespace "user-john-storage"
    And the API server allows the ServiceAccount "platform-go/platform-go" to "update" "secrets" in namespace "user-john-storage"
    And the API server forbids the ServiceAccount "platform-go/platform-go" to "create" "clusterrolebindings.rbac.authorization.k8s.io" cluster-wide
    And the API server forbids the ServiceAccount "platform-go/platform-go" to "create" "rolebindings.rbac.authorization.k8s.io" in namespace "user-john-storage"
    And the API server forbids the ServiceAccount "platform-go/platform-go" to "delete" "nodes" cluster-wide
