@security
Feature: Finch pod security
  Containers run as non-root users with minimal capabilities and a read-only root filesystem where
  possible; the backend's migrations run in an init container.

  Background:
    Given the system "finch"

  @offline @declared @critical
  Scenario Outline: The <component> runs as non-root with no capabilities and a read-only root filesystem
    Source: Kubernetes Architecture Documentation (Finch) § Security Measures › Pod Security Standards
    Then the Deployment "finch-production/<component>" declares spec.template.spec.securityContext.runAsNonRoot = true
    And every container of the Deployment "finch-production/<component>" declares securityContext.capabilities.drop = [ALL]
    And every container of the Deployment "finch-production/<component>" declares securityContext.readOnlyRootFilesystem = true
    And every container of the Deployment "finch-production/<component>" declares securityContext.allowPrivilegeEscalation = false

    Examples:
      | component           |
      | finch-frontend      |
      | finch-backend       |
      | finch-celery-worker |

  @offline @modeled @normal
  Scenario: Every production and monitoring workload meets the Restricted Pod Security Standard
    Source: Kubernetes Architecture Documentation (Finch) § Security Measures › Pod Security Standards
    Then every workload in namespace "finch-production" meets the "restricted" Pod Security Standard
    And every workload in namespace "finch-monitoring" meets the "restricted" Pod Security Standard

  @offline @declared @normal
  Scenario: Database migrations run in an init container of the backend
    Source: Kubernetes Architecture Documentation (Finch) § Component Specifications › Backend Deployment (Django)
    Then the Deployment "finch-production/finch-backend" sets spec.template.spec.initContainers[0].name

  @offline @modeled @critical
  Scenario: No service account gets cluster-admin or wildcard permissions
    Source: Kubernetes Architecture Documentation (Finch) § Security Measures › Secrets Management
    Then no service account of the system is granted cluster-admin or wildcard permissions

  @live @observed @critical
  Scenario Outline: The <component> really runs as non-root, read-only, with no capabilities on a live cluster
    Source: Kubernetes Architecture Documentation (Finch) § Security Measures › Pod Security Standards
    Given the system is deployed
    Then every container of the Deployment "finch-production/<component>" runs as a non-root user
    And every container of the Deployment "finch-production/<component>" has a read-only root filesystem
    And every container of the Deployment "finch-production/<component>" runs with no capabilities
    And every container of the Deployment "finch-production/<component>" cannot escalate privileges

    Examples:
      | component           |
      | finch-frontend      |
      | finch-backend       |
      | finch-celery-worker |
