/* controller_deployment: upstream's DeploymentController (see docs/controllers.md). */
#include "controller/controller_internal.h"

int ctrl_deploy_sync(controller_manager_t *m, const char *key)
{
    (void)m;
    (void)key;
    return 0;
}

void ctrl_deploy_on_rs(controller_manager_t *m, const cJSON *old, const cJSON *rs)
{
    (void)m;
    (void)old;
    (void)rs;
}
