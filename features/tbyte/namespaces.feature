@namespaces
Feature: TByte namespaces
  One application namespace holds frontend, backend and database; Argo CD, monitoring, logging,
  Karpenter and KEDA each have a system namespace.

  Background:
    Given the system "tbyte"

  @offline @declared @normal
  Scenario: The application namespace and the five system namespaces exist
    Source: Kubernetes Architecture - TByte Microservices Platform § Application Architecture
    Then the system has the namespaces:
      | namespace  |
      | tbyte      |
      | argocd     |
      | monitoring |
      | logging    |
      | karpenter  |
      | keda       |

  @offline @declared @normal
  Scenario: Frontend, backend and PostgreSQL run in the application namespace behind ClusterIP Services
    Source: Kubernetes Architecture - TByte Microservices Platform § Application Architecture
    Then the Service "tbyte/frontend" declares spec.type = ClusterIP
    And the Service "tbyte/backend" declares spec.type = ClusterIP
    And the Service "tbyte/frontend" selects the pods of the Deployment "tbyte/frontend"
    And the Service "tbyte/backend" selects the pods of the Deployment "tbyte/backend"
    And the Service "tbyte/postgres" selects the pods of the StatefulSet "tbyte/postgres"

  @offline @declared @normal
  Scenario: The system components the diagram draws run in their namespaces
    Source: Kubernetes Architecture - TByte Microservices Platform § Application Architecture
    Then the Deployment "argocd/argocd-server" exists
    And the Deployment "argocd/argocd-repo-server" exists
    And the Deployment "argocd/argocd-application-controller" exists
    And the Deployment "monitoring/prometheus" exists
    And the Deployment "monitoring/grafana" exists
    And the Deployment "monitoring/alertmanager" exists
    And the Deployment "logging/loki" exists
    And the DaemonSet "logging/promtail" exists
    And the Deployment "karpenter/karpenter" exists
    And the Deployment "keda/keda-operator" exists
