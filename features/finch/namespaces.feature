@namespaces
Feature: Finch namespaces
  Production, staging and monitoring each have their own namespace.

  Background:
    Given the system "finch"

  @offline @declared @normal
  Scenario: The production, staging and monitoring namespaces exist
    Source: Kubernetes Architecture Documentation (Finch) § Namespace Organization
    Then the system has the namespaces:
      | namespace        |
      | finch-production |
      | finch-staging    |
      | finch-monitoring |

  @offline @declared @normal
  Scenario: Every application component runs in production, and staging runs the same components
    Source: Kubernetes Architecture Documentation (Finch) § Namespace Organization › Staging Namespace (finch-staging)
    Then the Deployment "finch-production/finch-frontend" exists
    And the Deployment "finch-production/finch-backend" exists
    And the Deployment "finch-production/finch-celery-worker" exists
    And the Deployment "finch-production/finch-celery-beat" exists
    And the Deployment "finch-production/postgres" exists
    And the Deployment "finch-production/redis" exists
    And the Deployment "finch-staging/finch-frontend" exists
    And the Deployment "finch-staging/finch-backend" exists
    And the Deployment "finch-staging/finch-celery-worker" exists
    And the Deployment "finch-staging/postgres" exists
    And the Deployment "finch-staging/redis" exists

  @offline @declared @normal
  Scenario: Prometheus, Grafana and Alertmanager run in the monitoring namespace
    Source: Kubernetes Architecture Documentation (Finch) § Namespace Organization › Monitoring Namespace (finch-monitoring)
    Then the Deployment "finch-monitoring/prometheus" exists
    And the Deployment "finch-monitoring/grafana" exists
    And the Deployment "finch-monitoring/alertmanager" exists

  @offline @modeled @normal
  Scenario: Prometheus may read metrics cluster-wide
    Source: Kubernetes Architecture Documentation (Finch) § Namespace Organization › Monitoring Namespace (finch-monitoring)
    Then the ServiceAccount "finch-monitoring/prometheus" can "list" "pods" cluster-wide
    And the ServiceAccount "finch-monitoring/prometheus" can "get" "nodes" cluster-wide
    And the ServiceAccount "finch-monitoring/prometheus" cannot "get" "secrets" cluster-wide

  @live @observed @normal
  Scenario: The API server lets Prometheus read metrics cluster-wide and no secret
    Source: Kubernetes Architecture Documentation (Finch) § Namespace Organization › Monitoring Namespace (finch-monitoring)
    Given the system is deployed
    Then the API server allows the ServiceAccount "finch-monitoring/prometheus" to "list" "pods" cluster-wide
    And the API server allows the ServiceAccount "finch-monitoring/prometheus" to "get" "nodes" cluster-wide
    And the API server forbids the ServiceAccount "finch-monitoring/prometheus" to "get" "secrets" cluster-wide
