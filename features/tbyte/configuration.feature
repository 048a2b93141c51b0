@configuration
Feature: TByte secrets and configuration
  Secrets reach the pods as files under /mnt/secrets (database credentials for the backend, API
  keys for the frontend); non-sensitive configuration comes from ConfigMaps.

  Background:
    Given the system "tbyte"

  @offline @declared @normal
  Scenario: Frontend and backend mount their secrets at /mnt/secrets and read config from ConfigMaps
    Source: Kubernetes Architecture - TByte Microservices Platform § Secrets Management Architecture
    Then the container "frontend" of the Deployment "tbyte/frontend" declares volumeMounts[name=secrets].mountPath = /mnt/secrets
    And the container "backend" of the Deployment "tbyte/backend" declares volumeMounts[name=secrets].mountPath = /mnt/secrets
    And every ConfigMap, Secret, PersistentVolumeClaim and ServiceAccount the Deployment "tbyte/frontend" refers to exists
    And every ConfigMap, Secret, PersistentVolumeClaim and ServiceAccount the Deployment "tbyte/backend" refers to exists

  @offline @declared @normal
  Scenario: The secrets come from AWS Secrets Manager for the backend and Vault for the frontend
    Source: Kubernetes Architecture - TByte Microservices Platform § Secrets Management Architecture
    Given the system "tbyte" with its custom resources
    Then the SecretProviderClass "tbyte/backend-aws-secrets" declares spec.provider = aws
    And the SecretProviderClass "tbyte/frontend-vault-secrets" declares spec.provider = vault

  @live @observed @normal
  Scenario: The pods see their secrets under /mnt/secrets and their ConfigMaps on a live cluster
    Source: Kubernetes Architecture - TByte Microservices Platform § Secrets Management Architecture
    Given the system is deployed
    Then the container "backend" of the Deployment "tbyte/backend" sees the Secret "backend-db-credentials" as files in /mnt/secrets
    And the container "frontend" of the Deployment "tbyte/frontend" sees the Secret "frontend-api-keys" as files in /mnt/secrets
    And the container "backend" of the Deployment "tbyte/backend" sees the ConfigMap "backend-config" as environment variables
    And the container "frontend" of the Deployment "tbyte/frontend" sees the ConfigMap "frontend-config" as environment variables
    And no pod of the system carries a secret as a literal value
