#include "netsetup.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct request {
    struct nlmsghdr header;
    union {
        struct ifinfomsg link;
        struct ifaddrmsg address;
        struct rtmsg route;
    };
    char attributes[256];
};

static void add_attribute(struct request *r, unsigned short type, const void *data, size_t len) {
    struct rtattr *a = (struct rtattr *)((char *)r + NLMSG_ALIGN(r->header.nlmsg_len));
    a->rta_type = type;
    a->rta_len = (unsigned short)RTA_LENGTH(len);
    memcpy(RTA_DATA(a), data, len);
    r->header.nlmsg_len = NLMSG_ALIGN(r->header.nlmsg_len) + RTA_ALIGN(a->rta_len);
}

/* Sends one request and reads its acknowledgement: 0, or -1 with the kernel's errno. */
static int transact(int fd, struct request *r) {
    static unsigned int sequence;
    r->header.nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
    r->header.nlmsg_seq = ++sequence;
    if (send(fd, r, r->header.nlmsg_len, 0) < 0) return -1;
    char reply[4096];
    for (;;) {
        ssize_t n = recv(fd, reply, sizeof reply, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        for (struct nlmsghdr *h = (struct nlmsghdr *)reply; NLMSG_OK(h, (unsigned int)n); h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_seq != r->header.nlmsg_seq || h->nlmsg_type != NLMSG_ERROR) continue;
            int error = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
            if (error == 0) return 0;
            errno = -error;
            return -1;
        }
    }
}

static int link_up(int fd, unsigned int index, unsigned int mtu) {
    struct request r = {0};
    r.header.nlmsg_len = NLMSG_LENGTH(sizeof r.link);
    r.header.nlmsg_type = RTM_NEWLINK;
    r.link.ifi_family = AF_UNSPEC;
    r.link.ifi_index = (int)index;
    r.link.ifi_flags = IFF_UP;
    r.link.ifi_change = IFF_UP;
    if (mtu) add_attribute(&r, IFLA_MTU, &mtu, sizeof mtu);
    return transact(fd, &r);
}

/* "10.88.0.5/16" */
static int add_address(int fd, unsigned int index, const char *cidr) {
    char text[64];
    const char *slash = strchr(cidr, '/');
    if (!slash || (size_t)(slash - cidr) >= sizeof text) {
        errno = EINVAL;
        return -1;
    }
    memcpy(text, cidr, (size_t)(slash - cidr));
    text[slash - cidr] = 0;
    struct in_addr address;
    if (inet_pton(AF_INET, text, &address) != 1) {
        errno = EINVAL;
        return -1;
    }
    struct request r = {0};
    r.header.nlmsg_len = NLMSG_LENGTH(sizeof r.address);
    r.header.nlmsg_type = RTM_NEWADDR;
    r.header.nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
    r.address.ifa_family = AF_INET;
    r.address.ifa_prefixlen = (unsigned char)strtoul(slash + 1, NULL, 10);
    r.address.ifa_index = index;
    add_attribute(&r, IFA_LOCAL, &address, sizeof address);
    add_attribute(&r, IFA_ADDRESS, &address, sizeof address);
    return transact(fd, &r);
}

static int add_default_route(int fd, unsigned int index, const char *gateway) {
    struct in_addr address;
    if (inet_pton(AF_INET, gateway, &address) != 1) {
        errno = EINVAL;
        return -1;
    }
    struct request r = {0};
    r.header.nlmsg_len = NLMSG_LENGTH(sizeof r.route);
    r.header.nlmsg_type = RTM_NEWROUTE;
    r.header.nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
    r.route.rtm_family = AF_INET;
    r.route.rtm_table = RT_TABLE_MAIN;
    r.route.rtm_protocol = RTPROT_BOOT;
    r.route.rtm_scope = RT_SCOPE_UNIVERSE;
    r.route.rtm_type = RTN_UNICAST;
    add_attribute(&r, RTA_GATEWAY, &address, sizeof address);
    add_attribute(&r, RTA_OIF, &index, sizeof index);
    return transact(fd, &r);
}

int net_setup(const struct config *c, const char **what) {
    *what = "cannot open a netlink socket";
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) return -1;
    int result = -1;
    *what = "cannot bring up lo";
    if (link_up(fd, if_nametoindex("lo"), 0) < 0) goto done;
    if (c->net_address) {
        unsigned int index = if_nametoindex("eth0");
        *what = "cannot find eth0";
        if (!index) goto done;
        *what = "cannot bring up eth0";
        if (link_up(fd, index, c->net_mtu) < 0) goto done;
        *what = "cannot give eth0 its address";
        if (add_address(fd, index, c->net_address) < 0) goto done;
        *what = "cannot add the default route";
        if (c->net_gateway && add_default_route(fd, index, c->net_gateway) < 0) goto done;
    }
    result = 0;
done:;
    int saved = errno;
    close(fd);
    errno = saved;
    return result;
}
