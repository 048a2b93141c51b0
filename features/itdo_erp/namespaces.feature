@namespaces
Feature: ITDO ERP namespaces and quotas
  Development, staging and production each get a namespace with a quota; monitoring and security
  tools get their own namespaces; production is labelled for environment, team and cost centre.

  Background:
    Given the system "itdo_erp"

  @offline @declared @normal
  Scenario: The five namespaces exist and production carries its labels
    Source: Kubernetes Architecture Design for ITDO ERP v2 § Namespace Strategy › Environment-Based Namespaces
    Then the system has the namespaces:
      | namespace           |
      | itdo-erp-dev        |
      | itdo-erp-staging    |
      | itdo-erp-prod       |
      | itdo-erp-monitoring |
      | itdo-erp-security   |
    And the Namespace "itdo-erp-prod" declares:
      | field                                | value       |
      | metadata.labels.environment          | production  |
      | metadata.labels.team                 | platform    |
      | metadata.labels["cost-center"]       | engineering |

  @offline @declared @critical
  Scenario: The production quota has the documented hard limits
    Source: Kubernetes Architecture Design for ITDO ERP v2 § Namespace Strategy › Namespace Configuration
    Then the quota of namespace "itdo-erp-prod" sets:
      | resource               | hard  |
      | requests.cpu           | 50    |
      | requests.memory        | 100Gi |
      | limits.cpu             | 100   |
      | limits.memory          | 200Gi |
      | pods                   | 200   |
      | persistentvolumeclaims | 20    |
      | services               | 50    |

  @offline @declared @normal
  Scenario: Development and staging have smaller quotas
    Source: Kubernetes Architecture Design for ITDO ERP v2 § Namespace Strategy › Environment-Based Namespaces
    Then the quota of namespace "itdo-erp-dev" sets:
      | resource | hard |
      | cpu      | 10   |
      | memory   | 20Gi |
      | pods     | 50   |
    And the quota of namespace "itdo-erp-staging" sets:
      | resource | hard |
      | cpu      | 20   |
      | memory   | 40Gi |
      | pods     | 100  |

  @offline @modeled @critical
  Scenario: The production quota admits the backend at its autoscaling maximum of 20 replicas
    Source: Kubernetes Architecture Design for ITDO ERP v2 § Scaling Strategy › Horizontal Pod Autoscaler (HPA)
    Then the namespace quota admits 20 replicas of the Deployment "itdo-erp-prod/backend-api"

  @live @observed @critical @destructive @serial
  Scenario: The API server admits the backend at its autoscaling maximum of 20 pods
    Source: Kubernetes Architecture Design for ITDO ERP v2 § Scaling Strategy › Horizontal Pod Autoscaler (HPA)
    Given the system is deployed
    Then the namespace "itdo-erp-prod" admits 20 pods of the Deployment "itdo-erp-prod/backend-api"

  @offline @declared @normal
  Scenario: The environment namespaces enforce the baseline Pod Security Standard
    Source: Kubernetes Architecture Design for ITDO ERP v2 § Architecture Principles › Infrastructure Patterns
    Then the namespace "itdo-erp-prod" enforces the "baseline" Pod Security Standard
    And the namespace "itdo-erp-staging" enforces the "baseline" Pod Security Standard
    And the namespace "itdo-erp-dev" enforces the "baseline" Pod Security Standard

  @offline @modeled @normal
  Scenario: Every production workload meets the baseline Pod Security Standard
    Source: Kubernetes Architecture Design for ITDO ERP v2 § Architecture Principles › Infrastructure Patterns
    Then every workload in namespace "itdo-erp-prod" meets the "baseline" Pod Security Standard

  @live @observed @normal
  Scenario: The environment namespaces refuse a privileged pod on a live cluster
    Source: Kubernetes Architecture Design for ITDO ERP v2 § Architecture Principles › Infrastructure Patterns
    Given the system is deployed
    Then the namespace "itdo-erp-prod" rejects a privileged pod under the "baseline" Pod Security Standard
    And the namespace "itdo-erp-staging" rejects a privileged pod under the "baseline" Pod Security Standard
    And the namespace "itdo-erp-dev" rejects a privileged pod under the "baseline" Pod Security Standard
