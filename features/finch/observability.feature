@observability
Feature: Finch monitoring and alerting
  Prometheus collects cluster and application metrics; an alert fires on a 5xx rate above 0.1 per
  second for 2 minutes with critical severity.

  Background:
    Given the system "finch"

  @offline @declared @normal
  Scenario: The HighErrorRate alert rule is loaded into Prometheus
    Source: Kubernetes Architecture Documentation (Finch) § Monitoring and Observability › Alerting Rules
    Then the ConfigMap "finch-monitoring/prometheus-rules" exists
    And the Deployment "finch-monitoring/prometheus" declares spec.template.spec.volumes[name=rules].configMap.name = prometheus-rules
